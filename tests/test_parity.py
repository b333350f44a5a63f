"""``mixpeek-mock parity``: the contract's checks, run over HTTP against a server.

Against a real ``mixpeek-mock serve`` process (with its scheduler on, as users run it) every
check passes and the command exits 0; what it created is gone afterwards and what existed is
untouched. A server that differs is reported as DIFF, check by check, with exit 1: proven with
fabricated answers fed to the judging functions, and with a transport that alters the real
server's answers. A run that cannot start (a wrong key, no server, a bad URL) exits 2 with one
line; a run that is interrupted or loses the server still deletes what it created.
"""

import io
import os
import re
import signal
import subprocess
import threading
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import httpx2
import pytest

from app.syncs.schemas import SyncConfigurationModel
from app.testkit import parity
from app.testkit.parity import Answer, Checks, ParityError, UrllibTransport, run_parity
from tests.conftest import API_KEY
from tests.server_process import EXECUTABLE, ServerProcess, free_port

pytestmark = pytest.mark.e2e

EVERY_ROW = [*parity.CHECK_NAMES, "cleanup"]
# Nothing of the caller's environment leaks into the command: only what a test sets.
CLEAN_ENV = {"PATH": os.defpath}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """A server as users run it: the scheduler on, so a new sync is due at once."""
    database = tmp_path_factory.mktemp("parity") / "mock.db"
    with ServerProcess(database, env={"MIXPEEK_MOCK_SCHEDULER": "on"}) as process:
        yield process


def run_command(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [EXECUTABLE, "parity", *args],
        capture_output=True,
        text=True,
        env={**CLEAN_ENV, **(env or {})},
        timeout=120,
        check=False,
    )


def table(stdout: str) -> dict[str, list[str]]:
    """The printed table's rows by check name: [result, expected, observed]."""
    lines = stdout.splitlines()
    header, rows, summary = lines[0], lines[1:-1], lines[-1]
    assert header.split() == ["CHECK", "RESULT", "EXPECTED", "OBSERVED"]
    assert summary.endswith("skipped")
    starts = [header.index(title) for title in ("RESULT", "EXPECTED", "OBSERVED")]
    return {
        row[: starts[0]].strip(): [
            row[starts[0] : starts[1]].strip(),
            row[starts[1] : starts[2]].strip(),
            row[starts[2] :].strip(),
        ]
        for row in rows
    }


def http(server: ServerProcess, namespace: str = "default") -> httpx2.Client:
    return httpx2.Client(
        base_url=server.url,
        headers={"Authorization": f"Bearer {API_KEY}", "X-Namespace": namespace},
        timeout=30,
    )


def everything(server: ServerProcess) -> dict[str, Any]:
    """Every namespace, connection, and bucket (in every namespace) the key can see."""
    with http(server) as client:
        namespaces = client.get("/v1/namespaces", params={"page_size": 100}).json()["results"]
        connections = client.get("/v1/organizations/connections").json()["results"]
        buckets = {
            namespace["namespace_name"]: client.get(
                "/v1/buckets", headers={"X-Namespace": namespace["namespace_id"]}
            ).json()["results"]
            for namespace in namespaces
        }
    return {"namespaces": namespaces, "connections": connections, "buckets": buckets}


def names(state: dict[str, Any]) -> list[str]:
    found = [item["namespace_name"] for item in state["namespaces"]]
    found += [item["name"] for item in state["connections"]]
    found += [item["bucket_name"] for items in state["buckets"].values() for item in items]
    return found


def run_in_process(
    server: ServerProcess, transport: parity.Transport | None = None, **options: Any
) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = run_parity(
        base_url=server.url,
        api_key=API_KEY,
        out=out,
        err=err,
        transport=transport or UrllibTransport(30),
        **options,
    )
    return code, out.getvalue(), err.getvalue()


Send = Callable[[], Answer]


class Altered:
    """A server that differs: ``alter(method, url, send)`` answers each request, sending it
    to the real server with ``send()`` (or not) and changing what it answers."""

    def __init__(self, alter: Callable[[str, str, Send], Answer]) -> None:
        self.real = UrllibTransport(30)
        self.alter = alter

    def __call__(
        self, method: str, url: str, headers: Mapping[str, str], body: bytes | None
    ) -> Answer:
        return self.alter(method, url, lambda: self.real(method, url, headers, body))


# --- against this server -------------------------------------------------------------------


def test_every_check_passes_against_this_server(server: ServerProcess) -> None:
    result = run_command("--base-url", server.url, env={"MIXPEEK_API_KEY": API_KEY})

    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stderr == ""
    rows = table(result.stdout)
    assert list(rows) == EVERY_ROW
    assert {name: row[0] for name, row in rows.items()} == dict.fromkeys(EVERY_ROW, "PASS")
    assert all(row[2] == parity.AS_EXPECTED for row in rows.values())
    assert (
        result.stdout.splitlines()[-1]
        == f"{len(EVERY_ROW)} checks: {len(EVERY_ROW)} passed, 0 differ, 0 skipped"
    )


def test_scratch_resources_are_gone_and_existing_ones_untouched(server: ServerProcess) -> None:
    with http(server) as client:
        client.post("/v1/namespaces", json={"namespace_name": "kept-space"}).raise_for_status()
        client.post(
            "/v1/buckets",
            json={"bucket_name": "kept-bucket", "bucket_schema": {"properties": {}}},
        ).raise_for_status()
        client.post(
            "/v1/organizations/connections", json=parity.connection_body("kept-connection")
        ).raise_for_status()
    before = everything(server)

    # Given a namespace, it works there (beside what is kept), and takes the address with /v1.
    result = run_command(
        "--base-url", server.url + "/v1/", "--api-key", API_KEY, "--namespace", "default"
    )

    assert result.returncode == 0, result.stdout + result.stderr
    after = everything(server)
    assert after == before
    assert not [name for name in names(after) if name.startswith(parity.SCRATCH_PREFIX)]
    assert {"kept-space", "kept-bucket", "kept-connection"} <= set(names(after))


def test_the_record_fields_checked_are_the_servers_record() -> None:
    assert list(parity.SYNC_RECORD_FIELDS) == list(SyncConfigurationModel.model_fields)


# --- what cannot start: exit 2, one line ------------------------------------------------------


def test_a_wrong_key_is_exit_2_in_one_line_and_creates_nothing(server: ServerProcess) -> None:
    before = everything(server)

    result = run_command("--base-url", server.url, "--api-key", "sk_not_a_key_of_this_server")

    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1
    assert result.stderr.startswith("mixpeek-mock: parity: the server refused the API key (401")
    assert "sk_not_a_key" not in result.stderr
    assert everything(server) == before


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--base-url", "http://127.0.0.1:{port}"], "cannot reach http://127.0.0.1:"),
        (["--base-url", "ftp://example.com"], "must be an http:// or https:// URL"),
        (["--base-url", "http://127.0.0.1:1", "--timeout", "0"], "--timeout must be more"),
        (["--api-key", API_KEY], "the following arguments are required: --base-url"),
    ],
    ids=["no-server", "not-http", "zero-timeout", "no-base-url"],
)
def test_a_run_that_cannot_start_is_exit_2_in_one_line(args: list[str], message: str) -> None:
    args = [arg.format(port=free_port()) for arg in args]
    env = {} if "--api-key" in args else {"MIXPEEK_API_KEY": API_KEY}

    result = run_command(*args, env=env)

    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1, result.stderr
    assert message in result.stderr


def test_no_key_at_all_is_exit_2(server: ServerProcess) -> None:
    result = run_command("--base-url", server.url)

    assert result.returncode == 2
    assert result.stderr == (
        "mixpeek-mock: parity: no API key: pass --api-key or set MIXPEEK_API_KEY\n"
    )


def test_an_unknown_namespace_is_exit_2(server: ServerProcess) -> None:
    result = run_command(
        "--base-url", server.url, "--namespace", "no-such-space", env={"MIXPEEK_API_KEY": API_KEY}
    )

    assert result.returncode == 2
    assert "namespace 'no-such-space' not found" in result.stderr


# --- a server that differs: DIFF, exit 1 -----------------------------------------------------


def test_a_server_that_differs_is_reported_check_by_check(server: ServerProcess) -> None:
    """The real server's 401 answers, without their ``WWW-Authenticate`` header."""

    def drop_challenge(method: str, url: str, send: Send) -> Answer:
        answer = send()
        headers = {k: v for k, v in answer.headers.items() if k != "www-authenticate"}
        return Answer(answer.status, headers, answer.body, answer.text)

    before = everything(server)
    code, out, err = run_in_process(server, Altered(drop_challenge))

    assert code == 1, out + err
    rows = table(out)
    differing = {name: row for name, row in rows.items() if row[0] != "PASS"}
    assert differing == {
        "auth.missing_key": ["DIFF", "WWW-Authenticate: Bearer", "WWW-Authenticate: null"],
        "auth.bad_key": ["DIFF", "WWW-Authenticate: Bearer", "WWW-Authenticate: null"],
    }
    assert out.splitlines()[-1].startswith(
        f"{len(EVERY_ROW)} checks: {len(EVERY_ROW) - 2} passed, 2 differ"
    )
    assert everything(server) == before


def test_a_server_that_merges_metadata_is_a_difference(server: ServerProcess) -> None:
    """The real server's PATCH answers, with the metadata merged into what was there."""
    merged = {"a": 1, "b": {"nested": True}, "c": "three"}

    def merge(method: str, url: str, send: Send) -> Answer:
        answer = send()
        body = answer.body
        if method == "PATCH" and isinstance(body, dict) and body.get("metadata") == {"c": "three"}:
            body = {**body, "metadata": merged}
        return Answer(answer.status, answer.headers, body, answer.text)

    code, out, _ = run_in_process(server, Altered(merge))

    assert code == 1
    result, expected, observed = table(out)["patch.metadata_replaced"]
    assert result == "DIFF"
    assert "answer is the record a later GET shows: true" in expected
    assert "answer is the record a later GET shows: false" in observed


def test_a_failed_setup_is_a_difference_and_skips_what_needs_it(server: ServerProcess) -> None:
    """A server that refuses the bucket: reported, the rest skipped, the rest deleted."""

    def refuse_buckets(method: str, url: str, send: Send) -> Answer:
        if method == "POST" and url.endswith("/v1/buckets"):
            error = {"type": "ValidationError", "message": "bucket_schema is required"}
            return Answer.of(422, {"success": False, "status": 422, "error": error})
        return send()

    before = everything(server)
    code, out, _ = run_in_process(server, Altered(refuse_buckets))

    assert code == 1
    rows = table(out)
    assert rows["setup.create_bucket"] == [
        "DIFF",
        "200 with the new bucket",
        "422 ValidationError bucket_schema is required",
    ]
    assert {row[0] for name, row in rows.items() if name in parity.CHECK_NAMES} == {"SKIP"}
    assert rows["cleanup"][0] == "PASS"
    assert everything(server) == before


def test_a_server_that_will_not_store_a_loopback_endpoint_still_gets_checked(
    server: ServerProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The refusal is a difference (D15); the stand-in connection (a ``.invalid`` name against
    other servers) names loopback here, so that the run the checks trigger resolves no name
    beyond this machine."""
    monkeypatch.setattr(parity, "UNRESOLVABLE_ENDPOINT", "http://localhost:9")
    refused: list[str] = []

    def refuse_the_first_connection(method: str, url: str, send: Send) -> Answer:
        if method == "POST" and url.endswith("/v1/organizations/connections") and not refused:
            refused.append(url)
            error = {"type": "BadRequestError", "message": "endpoint_url may not be loopback"}
            return Answer.of(400, {"success": False, "status": 400, "error": error})
        return send()

    before = everything(server)
    code, out, _ = run_in_process(server, Altered(refuse_the_first_connection))

    assert code == 1
    rows = table(out)
    assert rows["setup.create_connection"] == [
        "DIFF",
        "200 with the new connection",
        "400 BadRequestError endpoint_url may not be loopback",
    ]
    assert {rows[name][0] for name in [*parity.CHECK_NAMES, "cleanup"]} == {"PASS"}
    assert everything(server) == before


def test_without_a_second_namespace_only_the_isolation_check_is_skipped(
    server: ServerProcess,
) -> None:
    def refuse_namespaces(method: str, url: str, send: Send) -> Answer:
        if method == "POST" and url.endswith("/v1/namespaces"):
            error = {"type": "ForbiddenError", "message": "namespace limit reached"}
            return Answer.of(403, {"success": False, "status": 403, "error": error})
        return send()

    before = everything(server)
    code, out, _ = run_in_process(server, Altered(refuse_namespaces), namespace="default")

    assert code == 1
    rows = table(out)
    assert list(rows) == [*parity.CHECK_NAMES[:-2], "setup.create_namespace", *EVERY_ROW[-3:]]
    assert rows["namespace.isolation"] == ["SKIP", "-", "no second namespace"]
    assert [name for name, row in rows.items() if row[0] != "PASS"] == [
        "setup.create_namespace",
        "namespace.isolation",
    ]
    assert everything(server) == before


# --- however the run ends, what it created is deleted -----------------------------------------


def test_an_interrupted_run_deletes_what_it_created(
    server: ServerProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    def interrupt(self: Checks) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(Checks, "check_patch", interrupt)
    before = everything(server)

    code, out, err = run_in_process(server)

    assert code == parity.EXIT_INTERRUPTED
    assert err == "mixpeek-mock: parity: interrupted; every scratch resource was deleted\n"
    assert "lifecycle.pause" in table(out)  # what ran before is shown
    assert everything(server) == before


def test_losing_the_server_mid_run_deletes_what_it_created(server: ServerProcess) -> None:
    def lose_it_at_resume(method: str, url: str, send: Send) -> Answer:
        if url.endswith("/resume"):
            raise ParityError(f"cannot reach {url}: Connection reset by peer")
        return send()

    before = everything(server)

    with pytest.raises(ParityError, match=r"every scratch resource was deleted$"):
        run_in_process(server, Altered(lose_it_at_resume))
    assert everything(server) == before


def test_an_interrupted_cleanup_names_what_is_left(server: ServerProcess) -> None:
    def interrupt_at_the_bucket(method: str, url: str, send: Send) -> Answer:
        if method == "DELETE" and "/v1/buckets/" in url and "/syncs/" not in url:
            raise KeyboardInterrupt
        return send()

    before = everything(server)

    code, _, err = run_in_process(server, Altered(interrupt_at_the_bucket))

    assert code == parity.EXIT_INTERRUPTED
    left = dict(re.findall(r"(namespace|connection|bucket) (\S+?)[,\s]", err))
    assert err.startswith("mixpeek-mock: parity: interrupted; could not delete namespace ")
    assert err.endswith(" (delete them by hand)\n")
    assert set(left) == {"namespace", "connection", "bucket"}
    assert everything(server) != before
    with http(server) as client:  # what it names is what is left: delete it here
        for namespace in re.findall(r"namespace (\S+?)[,\s]", err):
            client.delete(f"/v1/namespaces/{namespace}").raise_for_status()
        client.delete(f"/v1/organizations/connections/{left['connection']}").raise_for_status()
    assert everything(server) == before


def test_an_interrupt_before_anything_is_created_says_so(server: ServerProcess) -> None:
    def interrupt_at_once(method: str, url: str, send: Send) -> Answer:
        raise KeyboardInterrupt

    code, out, err = run_in_process(server, Altered(interrupt_at_once))

    assert (code, out) == (parity.EXIT_INTERRUPTED, "")
    assert err == "mixpeek-mock: parity: interrupted; nothing was created\n"


@pytest.mark.skipif(
    threading.current_thread() is not threading.main_thread(),
    reason="signal handlers are installed from the main thread only",
)
def test_sigterm_during_a_run_stops_it_as_ctrl_c_does() -> None:
    previous = signal.getsignal(signal.SIGTERM)
    with parity._sigterm_as_interrupt():
        handler = signal.getsignal(signal.SIGTERM)
        assert callable(handler)
        with pytest.raises(KeyboardInterrupt):
            handler(signal.SIGTERM, None)
    assert signal.getsignal(signal.SIGTERM) == previous


# --- the judging functions, on fabricated answers ----------------------------------------------


def envelope(status: int, type_: str, **error: Any) -> Answer:
    return Answer.of(
        status,
        {
            "success": False,
            "status": status,
            "error": {"type": type_, "message": "m", "code": None, "details": None, **error},
        },
    )


def outcome(facts: list[parity.Fact]) -> parity.CheckResult:
    return parity.judge("check", "summary", facts)


def test_the_envelope_passes_as_the_contract_describes_it() -> None:
    result = outcome(parity.envelope_facts(envelope(404, "NotFoundError"), 404, "NotFoundError"))

    assert result == parity.CheckResult("check", "PASS", "summary", parity.AS_EXPECTED)


def test_a_framework_default_error_body_is_a_difference() -> None:
    result = outcome(
        parity.envelope_facts(Answer.of(404, {"detail": "Not Found"}), 404, "NotFoundError")
    )

    assert result.outcome == "DIFF"
    assert 'body keys: ["error", "status", "success"]' in result.expected
    assert 'body keys: ["detail"]' in result.observed
    assert "error.type: null" in result.observed
    assert "HTTP status" not in result.expected  # only what differs is shown


def test_a_403_for_a_bad_key_is_a_difference() -> None:
    answer = Answer.of(403, envelope(403, "ForbiddenError").body, {"WWW-Authenticate": "Bearer"})

    result = outcome(parity.unauthorized_facts(answer))

    assert result.outcome == "DIFF"
    assert result.expected.startswith("HTTP status: 401")
    assert result.observed.startswith("HTTP status: 403")


def test_a_422_that_names_no_field_is_a_difference() -> None:
    answer = envelope(422, "ValidationError", details={"validation_errors": []})

    result = outcome(parity.validation_facts(answer, "batchsize", "extra_forbidden"))

    assert result.outcome == "DIFF"
    assert 'validation_errors locations: [["body", "batchsize"]]' in result.expected


RECORD = {
    "sync_config_id": "sync_1",
    "metadata": {"a": 1},
    "batch_size": 50,
    "created_at": "2026-01-01T00:00:00Z",
    "updated_at": "2026-01-01T00:00:00Z",
}


def test_a_patch_that_changed_only_what_was_sent_passes() -> None:
    after = {**RECORD, "metadata": {"c": 3}, "updated_at": "2026-01-01T00:00:01Z"}

    result = outcome(
        parity.patch_facts(RECORD, Answer.of(200, after), after, {"metadata": {"c": 3}})
    )

    assert result.outcome == "PASS"


@pytest.mark.parametrize(
    ("after", "answered", "differs"),
    [
        ({"metadata": {"a": 1, "c": 3}}, None, "metadata after"),
        ({"metadata": {"c": 3}, "batch_size": 10}, None, "fields changed"),
        (
            {"metadata": {"c": 3}, "updated_at": RECORD["updated_at"]},
            None,
            "updated_at moved forward",
        ),
        ({"metadata": {"c": 3}}, {"metadata": {"c": 3}}, "answer is the record a later GET shows"),
    ],
    ids=["merged", "changed-another-field", "updated-at-still", "partial-answer"],
)
def test_a_patch_that_did_more_or_less_is_a_difference(
    after: dict[str, Any], answered: dict[str, Any] | None, differs: str
) -> None:
    record = {**RECORD, "updated_at": "2026-01-01T00:00:01Z", **after}

    result = outcome(
        parity.patch_facts(
            RECORD, Answer.of(200, answered or record), record, {"metadata": {"c": 3}}
        )
    )

    assert result.outcome == "DIFF"
    assert f"{differs}: " in result.expected


def test_a_trigger_answer_of_another_shape_is_a_difference() -> None:
    answer = Answer.of(200, {"job_id": "job_1", "status": "QUEUED"})

    result = outcome(parity.trigger_facts("sync_1", answer))

    assert result.outcome == "DIFF"
    assert "status: running or skipped_already_running" in result.expected
    assert "status: QUEUED" in result.observed


def test_the_table_lines_up_and_counts() -> None:
    results = [
        parity.CheckResult("a.check", "PASS", "200", parity.AS_EXPECTED),
        parity.CheckResult("another.check", "DIFF", "status: 401", "status: 403"),
        parity.CheckResult("skipped", "SKIP", "-", "no scratch sync"),
    ]

    text = parity.format_table(results)

    assert table(text) == {
        "a.check": ["PASS", "200", parity.AS_EXPECTED],
        "another.check": ["DIFF", "status: 401", "status: 403"],
        "skipped": ["SKIP", "-", "no scratch sync"],
    }
    assert text.splitlines()[-1] == "3 checks: 1 passed, 1 differ, 1 skipped"


@pytest.mark.parametrize(
    ("given", "base"),
    [
        ("http://127.0.0.1:8000", "http://127.0.0.1:8000"),
        ("http://127.0.0.1:8000/", "http://127.0.0.1:8000"),
        ("http://127.0.0.1:8000/v1", "http://127.0.0.1:8000"),
        ("https://api.mixpeek.com/v1/", "https://api.mixpeek.com"),
        ("https://example.com/mixpeek/v1", "https://example.com/mixpeek"),
    ],
)
def test_the_base_url_is_taken_with_or_without_v1(given: str, base: str) -> None:
    assert parity.normalize_base_url(given) == base


@pytest.mark.parametrize("given", ["127.0.0.1:8000", "ftp://host", "http://", "http://h/?q=1"])
def test_a_base_url_that_is_not_one_is_refused(given: str) -> None:
    with pytest.raises(ParityError):
        parity.normalize_base_url(given)


def test_types_are_compared_strictly() -> None:
    answer = Answer.of(
        200,
        {
            "success": 1,
            "sync_config_id": "sync_1",
            "sync_job_id": "job_1",
            "status": "running",
            "full_sync": 0,
        },
    )

    result = outcome(parity.trigger_facts("sync_1", answer))

    assert result.outcome == "DIFF"
    assert result.expected == "success: true; full_sync: false"
    assert result.observed == "success: 1; full_sync: 0"


def test_a_time_without_z_is_a_difference() -> None:
    record = {"paused": True, "status": "SUSPENDED", "next_sync_at": None, "paused_by_user_id": "u"}
    record["paused_at"] = "2026-01-01T00:00:00+00:00"

    result = outcome(
        parity.pause_facts({"created_by_user_id": "u"}, Answer.of(200, record), record)
    )

    assert result.expected == f"paused_at: {parity.A_TIME}"
    assert result.observed == "paused_at: 2026-01-01T00:00:00+00:00"
