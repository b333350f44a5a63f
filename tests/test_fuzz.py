"""Schema-driven fuzzing: every answer of a real server conforms to the committed openapi.json.

Schemathesis derives requests for every operation of ``openapi.json``, valid and invalid ones, and
sends them to a real ``mixpeek-mock serve`` process with the bootstrap key in the ``default``
namespace. No answer may be a 5xx, and each one's status, content type and body must be what the
spec declares for that operation (CONTRACT.md D16: the spec tells the truth about the server).
The stateful test follows links from each create to the get, patch and delete of what it made.

The admin API (``/_mock/``, D28 to D32) is fuzzed too, with the admin token. What a fuzzed admin
call leaves behind that would break the run rather than test the server is undone after it (see
``undo_admin_effects``); a reset or a restore between /v1 calls stays, since every answer after it
must still be what the spec says.

Part of the cases are aimed at a seeded namespace, bucket, connection and sync, so lookups also
find something and PATCH validates bodies against a stored record (see ``tests/fuzz_support.py``).

The default bound keeps ``make test`` quick; ``make fuzz`` raises it through ``FUZZ_MAX_EXAMPLES``.
A failure prints the request that caused it as a curl line.
"""

import json
import os
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx2
import hypothesis
import pytest
import requests
import schemathesis
from requests.structures import CaseInsensitiveDict
from schemathesis import Case, Response
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.conftest import ADMIN_HEADERS, API_KEY, ServedDatabase, s3_connection_body
from tests.fuzz_support import Seeded, steer_to_seeded, with_links
from tests.server_process import ServerProcess

pytestmark = pytest.mark.e2e

SPEC_PATH = Path(__file__).resolve().parents[1] / "openapi.json"
NAMESPACE = "default"
HEADERS = {"Authorization": f"Bearer {API_KEY}", "X-Namespace": NAMESPACE}
# Generated cases per operation (on top of the deterministic coverage cases), and stateful
# scenarios of up to STATEFUL_STEPS calls each.
MAX_EXAMPLES = int(os.environ.get("FUZZ_MAX_EXAMPLES", "25"))
STATEFUL_SCENARIOS = MAX_EXAMPLES
STATEFUL_STEPS = 6
# Every run sends the same cases; FUZZ_SEED=<int> explores others, reproducibly.
SEED = int(os.environ["FUZZ_SEED"]) if os.environ.get("FUZZ_SEED") else None

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]

schema = schemathesis.openapi.from_dict(
    with_links(json.loads(SPEC_PATH.read_text())),
    config=schemathesis.Config.from_dict(
        {
            "headers": HEADERS,
            # The key is the tests' own: show it, so that a printed curl line runs as it is.
            "output": {"sanitization": {"enabled": False}},
            "generation": {
                "max-examples": MAX_EXAMPLES,
                "deterministic": SEED is None,
                "database": "none",
            },
            **({} if SEED is None else {"seed": SEED}),
        }
    ),
)
steer_to_seeded(schema)

SEEDED = Seeded()
# One connection pool for every request schemathesis sends.
SESSION = requests.Session()

BUCKET = {
    "bucket_name": "fuzz-bucket",
    "bucket_schema": {"properties": {"video": {"type": "video"}}},
}
CONNECTION = s3_connection_body("fuzz-connection")


def authenticate(case: Case[Any]) -> None:
    """The admin API opens to the admin token alone (D28): its operations get it instead of the
    key (schemathesis sends the configured key with every operation)."""
    if is_admin(case):
        if case.headers is None:
            case.headers = CaseInsensitiveDict()
        case.headers.update(ADMIN_HEADERS)


def is_admin(case: Case[Any]) -> bool:
    path: str = case.operation.path
    return path.startswith("/_mock/")


def undo_admin_effects(case: Case[Any], client: httpx2.Client) -> None:
    """After a fuzzed admin call, take away what would make later calls of the run fail for
    reasons that are not the server's: a fault rule (it would answer, delay by up to a minute or
    drop the later requests it matches, each a "failure" of the fuzzer's making) and a moved or
    frozen clock (records would then carry far dates; harmless, but a frozen clock hides the
    ordering of what later calls create). The call itself and its answer were checked in full;
    only its lasting effect is undone. A reset or a snapshot restore is left as it is: the
    seeded records are made again before the next operation, and every answer meanwhile must
    conform like any other."""
    if not is_admin(case):
        return
    admin = {"Authorization": ADMIN_HEADERS["Authorization"]}
    assert client.delete("/_mock/faults", headers=admin).status_code == 200
    now = datetime.now(UTC).isoformat()
    moved = client.post("/_mock/clock", headers=admin, json={"freeze": False, "set": now})
    assert moved.status_code == 200, moved.text


@pytest.fixture(scope="module")
def server(served_database: ServedDatabase) -> Iterator[ServerProcess]:
    with ServerProcess(served_database.path, database_url=served_database.url) as process:
        yield process


@pytest.fixture(scope="module")
def client(server: ServerProcess) -> Iterator[httpx2.Client]:
    with httpx2.Client(base_url=server.url, headers=HEADERS) as api:
        yield api


@pytest.fixture
def seeded(client: httpx2.Client) -> Seeded:
    """The seeded records, made again before each test when a fuzzed delete removed them."""
    seed_records(client, SEEDED)
    return SEEDED


def ensure(client: httpx2.Client, path: str, create: str, body: dict[str, Any]) -> dict[str, Any]:
    """The record at ``path``; created with ``body`` when it is missing."""
    response = client.get(path)
    if response.status_code == 404:
        response = client.post(create, json=body)
    assert response.status_code == 200, response.text
    record: dict[str, Any] = response.json()
    return record


def seed_records(client: httpx2.Client, seeded: Seeded) -> None:
    namespace = ensure(
        client,
        "/v1/namespaces/fuzz-namespace",
        "/v1/namespaces",
        {"namespace_name": "fuzz-namespace"},
    )
    bucket = ensure(client, "/v1/buckets/fuzz-bucket", "/v1/buckets", BUCKET)
    connection = ensure(
        client,
        "/v1/organizations/connections/fuzz-connection",
        "/v1/organizations/connections",
        CONNECTION,
    )
    syncs = f"/v1/buckets/{bucket['bucket_id']}/syncs"
    sync = ensure(
        client,
        f"{syncs}/{seeded.values.get('seeded.sync_config_id', 'sync_none')}",
        syncs,
        {"connection_id": connection["connection_id"], "source_path": "media/in"},
    )
    seeded.values = {
        "seeded.namespace_id": namespace["namespace_id"],
        "seeded.namespace_name": namespace["namespace_name"],
        "seeded.bucket_id": bucket["bucket_id"],
        "seeded.bucket_name": bucket["bucket_name"],
        "seeded.connection_id": connection["connection_id"],
        "seeded.connection_name": connection["name"],
        "seeded.sync_config_id": sync["sync_config_id"],
    }


@schema.parametrize()
# The seeded records are made once per operation, not once per case: a case that deletes one
# leaves the rest of that operation's cases to meet the 404.
@hypothesis.settings(suppress_health_check=[hypothesis.HealthCheck.function_scoped_fixture])
def test_every_operation_answers_as_the_spec_says(
    case: Case[Any], server: ServerProcess, client: httpx2.Client, seeded: Seeded
) -> None:
    seeded.resolve(case)
    authenticate(case)
    try:
        case.call_and_validate(base_url=server.url, session=SESSION, checks=CHECKS)
    finally:
        undo_admin_effects(case, client)


# Where what a create answered can be deleted, and in which order: a sync before its bucket or
# connection, a bucket before its namespace.
CREATED = {
    "POST /v1/buckets/{bucket_id}/syncs": "/v1/buckets/{bucket_id}/syncs/{sync_config_id}",
    "POST /v1/buckets": "/v1/buckets/{bucket_id}",
    "POST /v1/organizations/connections": "/v1/organizations/connections/{connection_id}",
    "POST /v1/namespaces": "/v1/namespaces/{namespace_id}",
}


def test_create_then_use_follows_the_spec(
    server: ServerProcess, client: httpx2.Client, seeded: Seeded
) -> None:
    class Workflow(schema.as_state_machine()):  # type: ignore[misc]
        """Every scenario starts from the same server state, so that Hypothesis, which replays
        scenarios, sees a create answer the same way each time it sends the same request."""

        def setup(self) -> None:
            seed_records(client, seeded)
            self.created: list[str] = []

        def before_call(self, case: Case[Any]) -> None:
            seeded.resolve(case)
            authenticate(case)

        def get_call_kwargs(self, case: Case[Any]) -> dict[str, Any]:
            return {"base_url": server.url, "session": SESSION}

        def after_call(self, response: Response, case: Case[Any]) -> None:
            undo_admin_effects(case, client)
            path = CREATED.get(case.operation.label)
            if path is not None and response.status_code == 200:
                self.created.append(path.format(**response.json()))

        def validate_response(
            self, response: Response, case: Case[Any], additional_checks: Any = None, **kwargs: Any
        ) -> None:
            case.validate_response(response, checks=CHECKS, transport_kwargs=kwargs)

        def teardown(self) -> None:
            for path in reversed(self.created):
                assert client.delete(path).status_code in (200, 404)

    if SEED is not None:
        hypothesis.seed(SEED)(Workflow)
    Workflow.run(
        settings=hypothesis.settings(
            max_examples=STATEFUL_SCENARIOS,
            stateful_step_count=STATEFUL_STEPS,
            derandomize=SEED is None,
            database=None,
            deadline=None,
            # Only generation: shrinking replays scenarios against a server that remembers.
            phases=[hypothesis.Phase.generate],
            suppress_health_check=list(hypothesis.HealthCheck),
        )
    )
