"""Schema-driven fuzzing: every answer a real server gives conforms to the committed openapi.json.

Schemathesis generates requests for every operation in ``openapi.json`` (valid ones and invalid
ones) and sends them to a real ``mixpeek-mock serve`` process, authenticated with the bootstrap
key in the ``default`` namespace. Each answer must not be a 5xx, and its status, content type and
body must be the ones the spec declares for that operation (CONTRACT.md D16: the spec tells the
truth about the server). The stateful test follows links from each create to the get, patch and
delete of what it made.

The default bound keeps ``make test`` quick; ``make fuzz`` raises it with ``FUZZ_MAX_EXAMPLES``.
A failure prints the request that caused it as a curl line.
"""

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2
import hypothesis
import pytest

import schemathesis
from schemathesis import Case, Response
from schemathesis.checks import not_a_server_error
from schemathesis.generation.stateful.state_machine import APIStateMachine
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from tests.conftest import API_KEY
from tests.fuzz_support import Seeded, steer_to_seeded, with_links
from tests.server_process import ServerProcess

pytestmark = pytest.mark.e2e

SPEC_PATH = Path(__file__).resolve().parents[1] / "openapi.json"
NAMESPACE = "default"
MAX_EXAMPLES = int(os.environ.get("FUZZ_MAX_EXAMPLES", "25"))
SEED = 20260101
# Scenarios of the stateful test, and calls per scenario.
STATEFUL_EXAMPLES = max(10, MAX_EXAMPLES // 2)
STATEFUL_STEPS = 6

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]

CONFIG = schemathesis.Config.from_dict(
    {
        "seed": SEED,
        "headers": {"Authorization": f"Bearer {API_KEY}", "X-Namespace": NAMESPACE},
        "generation": {"max-examples": MAX_EXAMPLES, "deterministic": True, "database": "none"},
        "phases": {"stateful": {"max-steps": STATEFUL_STEPS}},
    }
)

schema = schemathesis.openapi.from_dict(
    with_links(json.loads(SPEC_PATH.read_text())), config=CONFIG
)
SEEDED = Seeded()
steer_to_seeded(schema, SEEDED)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    with ServerProcess(tmp_path_factory.mktemp("fuzz") / "mock.db") as process:
        yield process


@pytest.fixture
def seeded(server: ServerProcess) -> Iterator[Seeded]:
    """The seeded records exist before each test; a fuzzed delete may have removed them."""
    with httpx2.Client(
        base_url=server.url,
        headers={"Authorization": f"Bearer {API_KEY}", "X-Namespace": NAMESPACE},
    ) as client:
        seed_records(client, SEEDED)
    yield SEEDED


def ensure(client: httpx2.Client, path: str, create: str, body: dict[str, Any]) -> dict[str, Any]:
    """The record at ``path``, created with ``body`` when it is missing."""
    found = client.get(path)
    if found.status_code == 200:
        record: dict[str, Any] = found.json()
        return record
    assert found.status_code == 404, found.text
    created = client.post(create, json=body)
    assert created.status_code == 200, created.text
    record = created.json()
    return record


def seed_records(client: httpx2.Client, seeded: Seeded) -> None:
    namespace = ensure(
        client,
        "/v1/namespaces/fuzz-namespace",
        "/v1/namespaces",
        {"namespace_name": "fuzz-namespace"},
    )
    bucket = ensure(
        client,
        "/v1/buckets/fuzz-bucket",
        "/v1/buckets",
        {
            "bucket_name": "fuzz-bucket",
            "bucket_schema": {"properties": {"video": {"type": "video"}}},
        },
    )
    connection = ensure(
        client,
        "/v1/organizations/connections/fuzz-connection",
        "/v1/organizations/connections",
        {
            "name": "fuzz-connection",
            "provider_type": "s3",
            "provider_config": {
                "credentials": {
                    "type": "access_key",
                    "access_key_id": "minioadmin",
                    "secret_access_key": "minioadmin-secret",
                },
                "region": "us-east-1",
                "endpoint_url": "http://127.0.0.1:9000",
            },
            "test_before_save": False,
        },
    )
    sync_path = f"/v1/buckets/{bucket['bucket_id']}/syncs"
    sync = ensure(
        client,
        f"{sync_path}/{seeded.sync_config_id or 'sync_none'}",
        sync_path,
        {"connection_id": connection["connection_id"], "source_path": "media/in"},
    )
    seeded.namespace_id = namespace["namespace_id"]
    seeded.bucket_id = bucket["bucket_id"]
    seeded.bucket_name = bucket["bucket_name"]
    seeded.connection_id = connection["connection_id"]
    seeded.connection_name = connection["name"]
    seeded.sync_config_id = sync["sync_config_id"]
    seeded.ready = True


@schema.parametrize()
def test_every_operation_answers_as_the_spec_says(
    case: Case, server: ServerProcess, seeded: Seeded
) -> None:
    case.call_and_validate(base_url=server.url, checks=CHECKS)


def test_create_then_use_follows_the_spec(server: ServerProcess, seeded: Seeded) -> None:
    class Workflow(schema.as_state_machine()):  # type: ignore[misc]
        def get_call_kwargs(self, case: Case) -> dict[str, Any]:
            return {"base_url": server.url}

        def validate_response(
            self, response: Response, case: Case, additional_checks: Any = None, **kwargs: Any
        ) -> None:
            case.validate_response(response, checks=CHECKS, transport_kwargs=kwargs)

    Workflow.run(
        settings=hypothesis.settings(
            max_examples=STATEFUL_EXAMPLES,
            stateful_step_count=STATEFUL_STEPS,
            derandomize=True,
            deadline=None,
            database=None,
            suppress_health_check=list(hypothesis.HealthCheck),
        )
    )
