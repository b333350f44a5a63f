"""``mixpeek-mock parity``: the contract's checks, run over HTTP against any server.

The same checks pass against this mock and should pass against the vendor's API: where they do
not, the table says which answer differs, and how. Each check compares named facts of real
answers with what CONTRACT.md says (D1 to D27): the error envelope (D6), authentication (D7),
namespace scoping (D8, D9), PATCH semantics (D3, D4, D5), and the lifecycle actions (D19 to
D21, D13).

Everything the run needs it creates itself, named ``parity-<random>``: two namespaces (one when
``--namespace`` names where to work), a storage connection saved without a test
(``test_before_save: false``) that points at a closed port on the server's own loopback, a
bucket and a sync. It never reads, changes or deletes anything else, and deletes what it
created when the run ends, however it ends (a failed check, a lost connection, Ctrl-C or
SIGTERM). A trigger starts a run that fails harmlessly against that closed port; only the
trigger's answer is checked.

The standard library's ``urllib`` carries the requests, so the command needs nothing the
server does not already install. The judging functions (``*_facts``) take answers and return
facts, so tests can feed them fabricated answers.
"""

import json
import secrets
import signal
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from http.client import HTTPException
from types import FrameType
from typing import Any, Final, Literal, Protocol, TextIO

SCRATCH_PREFIX = "parity-"
# A port nothing listens on (discard), on the server's own loopback: a connection saved
# without a test and a run against it reach nothing.
UNREACHABLE_ENDPOINT = "http://127.0.0.1:9"
# For a server that will not store a loopback endpoint: a name that never resolves (RFC 6761).
UNRESOLVABLE_ENDPOINT = "https://parity-unreachable.invalid"
DEFAULT_TIMEOUT_SECONDS = 30.0
# How long a run started by a scheduler before the pause may take to let go of its lock.
QUIET_TIMEOUT_SECONDS = 15.0

EXIT_PASSED = 0
EXIT_DIFFERENT = 1
EXIT_INTERRUPTED = 130

Outcome = Literal["PASS", "DIFF", "SKIP"]
PASSED: Final = "PASS"
DIFFERENT: Final = "DIFF"
SKIPPED: Final = "SKIP"
AS_EXPECTED = "as expected"
A_TIME = "an RFC 3339 UTC time ending in Z"

ENVELOPE_KEYS = ["error", "status", "success"]
ERROR_KEYS = ["code", "details", "message", "type"]
PROBLEM_KEYS = ["location", "message", "type"]
TRIGGER_KEYS = ["full_sync", "status", "success", "sync_config_id", "sync_job_id"]
UNLOCK_KEYS = ["success", "sync_config_id", "was_locked"]
# D2: every field of the sync configuration record, always present.
SYNC_RECORD_FIELDS = (
    "sync_config_id",
    "bucket_id",
    "connection_id",
    "internal_id",
    "namespace_id",
    "source_path",
    "source_type",
    "description",
    "file_filters",
    "sync_mode",
    "polling_interval_seconds",
    "batch_size",
    "create_object_on_confirm",
    "skip_duplicates",
    "skip_batch_submission",
    "schema_mapping",
    "batch_collection_ids",
    "ingest_filter",
    "reconcile",
    "provider_filters",
    "max_objects_per_run",
    "sync_concurrency",
    "sync_from",
    "status",
    "is_active",
    "paused",
    "paused_at",
    "pause_reason",
    "paused_by_user_id",
    "locked",
    "locked_by_worker_id",
    "locked_at",
    "lock_expires_at",
    "pending_full_sync",
    "sync_run_counter",
    "total_files_discovered",
    "total_files_synced",
    "total_files_failed",
    "total_bytes_synced",
    "created_at",
    "updated_at",
    "last_sync_at",
    "next_sync_at",
    "created_by_user_id",
    "last_error",
    "consecutive_failures",
    "metadata",
)


class ParityError(Exception):
    """The run could not start or go on (a bad argument, an unreachable server, a refused
    key): the message is the line to print."""


# --- HTTP ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Answer:
    """One HTTP answer: status, headers (lower-case names), the body parsed as JSON when it
    is JSON (else ``None``) and its text."""

    status: int
    headers: Mapping[str, str] = field(default_factory=dict)
    body: Any = None
    text: str = ""

    @classmethod
    def of(
        cls, status: int, body: Any = None, headers: Mapping[str, str] | None = None
    ) -> "Answer":
        """An answer with a JSON body, as tests fabricate them."""
        return cls(
            status, {k.lower(): v for k, v in (headers or {}).items()}, body, json.dumps(body)
        )


class Transport(Protocol):
    """Sends one request; raises ``ParityError`` when the server cannot be reached."""

    def __call__(
        self, method: str, url: str, headers: Mapping[str, str], body: bytes | None
    ) -> Answer: ...


class UrllibTransport:
    def __init__(self, timeout: float = DEFAULT_TIMEOUT_SECONDS) -> None:
        self.timeout = timeout

    def __call__(
        self, method: str, url: str, headers: Mapping[str, str], body: bytes | None
    ) -> Answer:
        request = urllib.request.Request(url, data=body, headers=dict(headers), method=method)  # noqa: S310
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310
                return _answer(response.status, response.headers, response.read())
        except urllib.error.HTTPError as error:
            with error:
                return _answer(error.code, error.headers, error.read())
        except (OSError, HTTPException) as error:
            reason = getattr(error, "reason", None) or error
            raise ParityError(f"cannot reach {url}: {reason}") from None
        except ValueError as error:  # a header http.client will not send (a control character)
            raise ParityError(f"cannot send a request to {url}: {error}") from None


def _answer(status: int, headers: Any, raw: bytes) -> Answer:
    text = raw.decode("utf-8", errors="replace")
    try:
        body = json.loads(text) if text else None
    except ValueError:
        body = None
    return Answer(status, {name.lower(): value for name, value in headers.items()}, body, text)


_UNSET: Any = object()


class Client:
    """Requests to one server with one key; the ``authorization`` and the ``namespace`` are
    chosen per request (left out, or another), since several checks are about exactly that."""

    def __init__(self, base_url: str, api_key: str, transport: Transport) -> None:
        self.base_url = base_url
        self.api_key = api_key
        self.transport = transport

    def request(
        self,
        method: str,
        path: str,
        *,
        json_body: Any = _UNSET,
        namespace: str | None = None,
        authorization: str | None = _UNSET,
    ) -> Answer:
        headers = {"Accept": "application/json", "User-Agent": "mixpeek-mock-parity"}
        if authorization is _UNSET:
            authorization = f"Bearer {self.api_key}"
        if authorization is not None:
            headers["Authorization"] = authorization
        if namespace is not None:
            headers["X-Namespace"] = namespace
        body = None
        if json_body is not _UNSET:
            headers["Content-Type"] = "application/json"
            body = json.dumps(json_body).encode()
        return self.transport(method, self.base_url + path, headers, body)


def normalize_base_url(url: str) -> str:
    """The server's address without ``/v1`` (as ``mixpeek.Configuration(host=...)`` takes it);
    a trailing ``/v1`` or ``/`` is accepted and dropped."""
    base = url.strip().rstrip("/")
    base = base.removesuffix("/v1").rstrip("/")
    parts = urllib.parse.urlsplit(base)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ParityError(f"--base-url must be an http:// or https:// URL, not {url!r}")
    if parts.query or parts.fragment:
        raise ParityError(f"--base-url may not carry a query or a fragment: {url!r}")
    return base


def _segment(value: str) -> str:
    return urllib.parse.quote(value, safe="")


# --- judging ---------------------------------------------------------------------------------

# One named fact of an answer: (what, expected, observed).
Fact = tuple[str, Any, Any]


@dataclass(frozen=True)
class CheckResult:
    name: str
    outcome: Outcome
    expected: str
    observed: str


def judge(name: str, summary: str, facts: list[Fact]) -> CheckResult:
    """PASS when every fact is as expected; else DIFF, showing only the facts that differ."""
    differing = [(what, want, got) for what, want, got in facts if not same(want, got)]
    if not differing:
        return CheckResult(name, PASSED, summary, AS_EXPECTED)
    return CheckResult(
        name,
        DIFFERENT,
        "; ".join(f"{what}: {_show(want)}" for what, want, _ in differing),
        "; ".join(f"{what}: {_show(got)}" for what, _, got in differing),
    )


def same(one: Any, other: Any) -> bool:
    """Equal as JSON, types included: ``true`` is not ``1``, nor ``300.0`` ``300`` (D5)."""
    return _json(one) == _json(other)


def _json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)


def _show(value: Any, limit: int = 120) -> str:
    text = value if isinstance(value, str) else _json(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "non-empty string" if value else "empty string"
    if isinstance(value, list):
        return "array"
    return "object" if isinstance(value, dict) else type(value).__name__


def _obj(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _keys(value: Any) -> Any:
    return sorted(value) if isinstance(value, dict) else _kind(value)


def _timestamp(value: Any) -> datetime | None:
    """An RFC 3339 time in UTC with the ``Z`` suffix (D3), else None."""
    if not isinstance(value, str) or not value.endswith("Z"):
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else None


def _when(value: Any) -> str:
    if _timestamp(value) is not None:
        return A_TIME
    return _show(value) if isinstance(value, str) else _kind(value)


def changed_keys(before: Any, after: Any) -> list[str]:
    """The keys whose values differ between two records (present in one only included)."""
    before, after = _obj(before), _obj(after)
    return sorted(
        key
        for key in before.keys() | after.keys()
        if key not in before or key not in after or not same(before[key], after[key])
    )


def envelope_facts(answer: Answer, status: int, type_: str) -> list[Fact]:
    """D6: ``{"success": false, "status", "error": {"type", "message", "code", "details"}}``."""
    body = _obj(answer.body)
    error = _obj(body.get("error"))
    code, details = error.get("code"), error.get("details")
    return [
        ("HTTP status", status, answer.status),
        ("body keys", ENVELOPE_KEYS, _keys(answer.body)),
        ("success", False, body.get("success")),
        ("status", status, body.get("status")),
        ("error keys", ERROR_KEYS, _keys(body.get("error"))),
        ("error.type", type_, error.get("type")),
        ("error.message", "non-empty string", _kind(error.get("message"))),
        (
            "error.code",
            "string or null",
            "string or null" if code is None or isinstance(code, str) else _kind(code),
        ),
        (
            "error.details",
            "object or null",
            "object or null" if details is None or isinstance(details, dict) else _kind(details),
        ),
    ]


def unauthorized_facts(answer: Answer) -> list[Fact]:
    """D7: 401 ``UnauthorizedError`` with ``WWW-Authenticate: Bearer``."""
    challenge = answer.headers.get("www-authenticate")
    return [
        *envelope_facts(answer, 401, "UnauthorizedError"),
        ("WWW-Authenticate", "Bearer", challenge.split(" ")[0] if challenge else None),
    ]


def validation_facts(
    answer: Answer, field_name: str, problem_type: str | None = None
) -> list[Fact]:
    """D6: a 422 whose ``details.validation_errors`` names ``field_name`` of the body."""
    details = _obj(_obj(_obj(answer.body).get("error")).get("details"))
    problems = details.get("validation_errors")
    problems = problems if isinstance(problems, list) else []
    facts = [
        *envelope_facts(answer, 422, "ValidationError"),
        (
            "validation_errors locations",
            [["body", field_name]],
            [_obj(p).get("location") for p in problems],
        ),
        ("validation_errors keys", [PROBLEM_KEYS], [_keys(p) for p in problems]),
    ]
    if problem_type is not None:
        facts.append(
            ("validation_errors types", [problem_type], [_obj(p).get("type") for p in problems])
        )
    return facts


def unchanged_facts(before: Any, after: Any) -> list[Fact]:
    return [("fields changed", [], changed_keys(before, after))]


def patch_facts(before: Any, answer: Answer, after: Any, sent: Mapping[str, Any]) -> list[Fact]:
    """D4: the fields sent, and only they and ``updated_at``, changed; the answer is the full
    record a later GET shows; ``updated_at`` moved forward, ``created_at`` did not move."""
    before, after = _obj(before), _obj(after)
    should_change = {key for key, value in sent.items() if not same(before.get(key), value)}
    old, new = _timestamp(before.get("updated_at")), _timestamp(after.get("updated_at"))
    return [
        ("HTTP status", 200, answer.status),
        *((f"{key} after", value, after.get(key)) for key, value in sent.items()),
        ("fields changed", sorted(should_change | {"updated_at"}), changed_keys(before, after)),
        ("answer is the record a later GET shows", True, same(answer.body, after)),
        ("updated_at moved forward", True, bool(old and new and new > old)),
        ("created_at", before.get("created_at"), after.get("created_at")),
    ]


def record_facts(answer: Answer) -> list[Fact]:
    """D1, D2, D11: a 200 with every field of the record, at its defaults."""
    record = _obj(answer.body)
    return [
        ("HTTP status", 200, answer.status),
        ("missing fields", [], [name for name in SYNC_RECORD_FIELDS if name not in record]),
        ("polling_interval_seconds", 300, record.get("polling_interval_seconds")),
        ("batch_size", 50, record.get("batch_size")),
        ("skip_duplicates", True, record.get("skip_duplicates")),
        ("create_object_on_confirm", True, record.get("create_object_on_confirm")),
        ("is_active", True, record.get("is_active")),
        ("metadata", {}, record.get("metadata")),
        ("locked", "boolean", _kind(record.get("locked"))),
        ("sync_config_id", "sync_...", _prefixed(record.get("sync_config_id"), "sync_")),
        ("created_at", A_TIME, _when(record.get("created_at"))),
    ]


def _prefixed(value: Any, prefix: str) -> str:
    return f"{prefix}..." if isinstance(value, str) and value.startswith(prefix) else _show(value)


def pause_facts(before: Any, answer: Answer, after: Any) -> list[Fact]:
    """D19: paused, SUSPENDED, unscheduled, stamped with the caller; the full record."""
    before, record = _obj(before), _obj(answer.body)
    return [
        ("HTTP status", 200, answer.status),
        ("paused", True, record.get("paused")),
        ("status", "SUSPENDED", record.get("status")),
        ("next_sync_at", None, record.get("next_sync_at")),
        ("paused_at", A_TIME, _when(record.get("paused_at"))),
        ("paused_by_user_id", before.get("created_by_user_id"), record.get("paused_by_user_id")),
        ("answer is the record a later GET shows", True, same(answer.body, after)),
    ]


def pause_again_facts(first: Any, answer: Answer) -> list[Fact]:
    """D19: pausing a paused sync is a no-op answering the record."""
    first, record = _obj(first), _obj(answer.body)
    return [
        ("HTTP status", 200, answer.status),
        *(
            (key, first.get(key), record.get(key))
            for key in ("paused", "status", "paused_at", "paused_by_user_id")
        ),
    ]


def resume_facts(before: Any, answer: Answer, after: Any) -> list[Fact]:
    """D19: unpaused, the pause stamps cleared, PENDING if it never ran (else ACTIVE), due."""
    before, record = _obj(before), _obj(answer.body)
    ran = bool(before.get("sync_run_counter")) or before.get("locked_by_worker_id") is not None
    return [
        ("HTTP status", 200, answer.status),
        ("paused", False, record.get("paused")),
        ("paused_at", None, record.get("paused_at")),
        ("paused_by_user_id", None, record.get("paused_by_user_id")),
        ("status", "ACTIVE" if ran else "PENDING", record.get("status")),
        ("next_sync_at", A_TIME, _when(record.get("next_sync_at"))),
        ("answer is the record a later GET shows", True, same(answer.body, after)),
    ]


def trigger_facts(sync_config_id: str, answer: Answer) -> list[Fact]:
    """D20: ``{"success": true, "sync_config_id", "sync_job_id", "status", "full_sync"}``."""
    body = _obj(answer.body)
    status = body.get("status")
    return [
        ("HTTP status", 200, answer.status),
        ("body keys", TRIGGER_KEYS, _keys(answer.body)),
        ("success", True, body.get("success")),
        ("sync_config_id", sync_config_id, body.get("sync_config_id")),
        ("sync_job_id", "job_...", _prefixed(body.get("sync_job_id"), "job_")),
        (
            "status",
            "running or skipped_already_running",
            "running or skipped_already_running"
            if status in ("running", "skipped_already_running")
            else status,
        ),
        ("full_sync", False, body.get("full_sync")),
    ]


def unlock_facts(sync_config_id: str, answer: Answer) -> list[Fact]:
    """D21: ``{"success": true, "sync_config_id", "was_locked": bool}``."""
    body = _obj(answer.body)
    return [
        ("HTTP status", 200, answer.status),
        ("body keys", UNLOCK_KEYS, _keys(answer.body)),
        ("success", True, body.get("success")),
        ("sync_config_id", sync_config_id, body.get("sync_config_id")),
        ("was_locked", "boolean", _kind(body.get("was_locked"))),
    ]


def delete_facts(sync_config_id: str, answer: Answer, later: Answer) -> list[Fact]:
    """D13: 200 ``{"success": true, "sync_config_id"}``, then 404 for every later call."""
    return [
        ("HTTP status", 200, answer.status),
        ("body", {"success": True, "sync_config_id": sync_config_id}, answer.body),
        (
            "later GET",
            "404 NotFoundError",
            f"{later.status} {_obj(_obj(later.body).get('error')).get('type')}",
        ),
    ]


# --- scratch resources -------------------------------------------------------------------------


@dataclass
class Created:
    kind: str
    identifier: str
    path: str
    namespace: str | None = None


class Scratch:
    """What this run created, deleted in reverse order by ``delete_all``."""

    def __init__(self, client: Client) -> None:
        self.client = client
        self.tag = SCRATCH_PREFIX + secrets.token_hex(4)
        self.created: list[Created] = []
        self.undeleted: list[Created] = []
        self.ever_created = False

    def name(self, suffix: str) -> str:
        return f"{self.tag}-{suffix}"

    def create(
        self, kind: str, path: str, body: dict[str, Any], id_key: str, namespace: str | None = None
    ) -> Answer:
        """Create one resource; kept for deletion when the answer is a 200 carrying its id."""
        answer = self.client.request("POST", path, json_body=body, namespace=namespace)
        identifier = _obj(answer.body).get(id_key)
        if answer.status == 200 and isinstance(identifier, str) and identifier:
            self.ever_created = True
            self.created.append(
                Created(kind, identifier, f"{path}/{_segment(identifier)}", namespace)
            )
        return answer

    def create_or_fail(
        self, kind: str, path: str, body: dict[str, Any], id_key: str, namespace: str | None = None
    ) -> dict[str, Any]:
        """``create``, raising ``SetupFailedError`` when the resource was not created."""
        answer = self.create(kind, path, body, id_key, namespace)
        if not self.created or self.created[-1].identifier != _obj(answer.body).get(id_key):
            raise SetupFailedError(kind, answer)
        return _obj(answer.body)

    def forget(self, identifier: str) -> None:
        self.created = [item for item in self.created if item.identifier != identifier]

    def delete_all(self) -> None:
        """Delete everything created, newest first. Each is taken off ``created`` once its
        DELETE has answered, so an interrupted clean-up still knows what is left."""
        while self.created:
            item = self.created[-1]
            try:
                answer = self.client.request("DELETE", item.path, namespace=item.namespace)
                gone = answer.status in (200, 404)
            except ParityError:
                gone = False
            self.created.pop()
            if not gone:
                self.undeleted.append(item)

    def left(self) -> list[str]:
        """What was created and is not known to be deleted ("kind id")."""
        return [f"{item.kind} {item.identifier}" for item in [*self.undeleted, *self.created]]

    def cleanup_line(self) -> str:
        if not self.ever_created:
            return "nothing was created"
        if left := self.left():
            return "could not delete " + ", ".join(left) + " (delete them by hand)"
        return "every scratch resource was deleted"


class SetupFailedError(Exception):
    def __init__(self, kind: str, answer: Answer) -> None:
        super().__init__(kind)
        self.kind = kind
        self.answer = answer

    def result(self) -> CheckResult:
        error = _obj(_obj(self.answer.body).get("error"))
        message = error.get("message") or self.answer.text[:100]
        observed = f"{self.answer.status} {error.get('type') or ''} {message}"
        return CheckResult(
            f"setup.create_{self.kind}",
            DIFFERENT,
            f"200 with the new {self.kind}",
            observed.strip(),
        )


# --- the run -----------------------------------------------------------------------------------

# Every check, in the order it runs.
CHECK_NAMES = (
    "sync.create",
    "error.404_unknown_sync",
    "error.422_validation",
    "auth.missing_key",
    "auth.bad_key",
    "namespace.missing",
    "namespace.unknown",
    "lifecycle.pause",
    "lifecycle.pause_again",
    "lifecycle.trigger_paused",
    "patch.only_sent_fields",
    "patch.metadata_replaced",
    "patch.unknown_field",
    "patch.read_only_field",
    "patch.null_not_nullable",
    "patch.empty_body",
    "patch.all_or_nothing",
    "lifecycle.resume",
    "lifecycle.trigger",
    "lifecycle.unlock",
    "namespace.isolation",
    "lifecycle.delete",
)

ENVELOPE_401 = "401 UnauthorizedError envelope, WWW-Authenticate: Bearer"
EXTRA_FORBIDDEN = "422 extra_forbidden naming the key; nothing changed"

# PATCH bodies the contract refuses (D4, D5): (check, summary, body, field named, error type).
REFUSED_PATCHES: tuple[tuple[str, str, dict[str, Any], str, str | None], ...] = (
    ("patch.unknown_field", EXTRA_FORBIDDEN, {"batchsize": 10}, "batchsize", "extra_forbidden"),
    (
        "patch.read_only_field",
        EXTRA_FORBIDDEN,
        {"sync_config_id": "sync_other"},
        "sync_config_id",
        "extra_forbidden",
    ),
    (
        "patch.null_not_nullable",
        "422 naming the field; nothing changed",
        {"batch_size": None},
        "batch_size",
        None,
    ),
)
ALL_OR_NOTHING_PATCH = {"description": "must not be stored", "batch_size": 0}


class Checks:
    """One run against one server: the scratch resources, then every check in order."""

    def __init__(self, client: Client, *, namespace: str | None = None) -> None:
        self.client = client
        self.namespace = namespace
        self.scratch = Scratch(client)
        self.results: list[CheckResult] = []
        # Set by ``setup``: where the scratch sync lives.
        self.working_namespace = ""
        self.bucket_path = ""
        self.sync_path = ""
        self.sync_id = ""

    # -- bookkeeping

    def check(self, name: str, summary: str, facts: list[Fact]) -> None:
        self.results.append(judge(name, summary, facts))

    def skip_the_rest(self, reason: str) -> None:
        done = {result.name for result in self.results}
        self.results += [CheckResult(n, SKIPPED, "-", reason) for n in CHECK_NAMES if n not in done]

    def call(self, method: str, path: str = "", body: Any = _UNSET, **options: Any) -> Answer:
        """A request to the scratch sync (``path`` below it), in its namespace."""
        options.setdefault("namespace", self.working_namespace)
        return self.client.request(method, self.sync_path + path, json_body=body, **options)

    def read(self) -> Any:
        return self.call("GET").body

    # -- the run

    def run(self) -> None:
        """Every check. Scratch resources stay in ``self.scratch`` for the caller to delete."""
        try:
            if not self.setup():
                return
        except SetupFailedError as failed:
            self.results.append(failed.result())
            self.skip_the_rest(f"no scratch {failed.kind}")
            return
        self.check_errors()
        self.check_pause()
        self.check_patch()
        self.check_resume_trigger_unlock()
        self.check_isolation()
        self.check_delete()

    def setup(self) -> bool:
        """A namespace (unless given), a connection, a bucket and a sync; False when the
        sync could not be created (its check says why)."""
        scratch = self.scratch
        if self.namespace is None:
            namespace = scratch.create_or_fail(
                "namespace",
                "/v1/namespaces",
                {"namespace_name": scratch.name("ns")},
                "namespace_id",
            )
            self.working_namespace = namespace["namespace_id"]
        else:
            self.working_namespace = self.namespace
        connection = self.create_connection()
        bucket = scratch.create_or_fail(
            "bucket",
            "/v1/buckets",
            {
                "bucket_name": scratch.name("bucket"),
                "bucket_schema": {"properties": {"content": {"type": "video"}}},
            },
            "bucket_id",
            namespace=self.working_namespace,
        )
        self.bucket_path = f"/v1/buckets/{_segment(bucket['bucket_id'])}"
        created = scratch.create(
            "sync",
            f"{self.bucket_path}/syncs",
            {"connection_id": connection["connection_id"], "source_path": "parity/nothing"},
            "sync_config_id",
            namespace=self.working_namespace,
        )
        self.check(
            "sync.create", "200, every field of the record, at defaults", record_facts(created)
        )
        if not scratch.created or scratch.created[-1].kind != "sync":
            self.skip_the_rest("no scratch sync")
            return False
        self.sync_id = scratch.created[-1].identifier
        self.sync_path = scratch.created[-1].path
        return True

    def create_connection(self) -> dict[str, Any]:
        """A connection to the closed loopback port; if the server will not store that (D15
        says ``test_before_save: false`` stores it as given), the refusal is a difference, and
        one to a name that cannot resolve (``.invalid``, RFC 6761) lets the run go on."""
        path = "/v1/organizations/connections"
        try:
            return self.scratch.create_or_fail(
                "connection", path, connection_body(self.scratch.name("conn")), "connection_id"
            )
        except SetupFailedError as refused:
            self.results.append(refused.result())
        body = connection_body(
            self.scratch.name("conn-invalid"), endpoint_url=UNRESOLVABLE_ENDPOINT
        )
        return self.scratch.create_or_fail("connection", path, body, "connection_id")

    def check_errors(self) -> None:
        """The envelope (D6), authentication before anything else (D7), the namespace (D8)."""
        missing = self.client.request(
            "GET",
            f"{self.bucket_path}/syncs/sync_{self.scratch.tag[len(SCRATCH_PREFIX) :]}missing",
            namespace=self.working_namespace,
        )
        self.check(
            "error.404_unknown_sync",
            "404 NotFoundError envelope",
            envelope_facts(missing, 404, "NotFoundError"),
        )
        invalid = self.call("PATCH", body={"polling_interval_seconds": "300"})
        self.check(
            "error.422_validation",
            "422 ValidationError envelope naming the field",
            validation_facts(invalid, "polling_interval_seconds"),
        )
        self.check(
            "auth.missing_key",
            ENVELOPE_401,
            unauthorized_facts(self.call("GET", authorization=None)),
        )
        bad_key = f"Bearer sk_parity_{secrets.token_hex(16)}"
        self.check(
            "auth.bad_key",
            ENVELOPE_401,
            unauthorized_facts(self.call("GET", authorization=bad_key)),
        )
        self.check(
            "namespace.missing",
            "400 BadRequestError envelope",
            envelope_facts(self.call("GET", namespace=None), 400, "BadRequestError"),
        )
        unknown = self.call("GET", namespace=self.scratch.name("no-such-namespace"))
        self.check(
            "namespace.unknown",
            "404 NotFoundError envelope",
            envelope_facts(unknown, 404, "NotFoundError"),
        )

    def check_pause(self) -> None:
        """D19, D20. Pausing first also keeps a scheduler from changing the record under the
        PATCH checks that follow."""
        before = self.read()
        paused = self.call("POST", "/pause")
        self.check(
            "lifecycle.pause",
            "200, paused, SUSPENDED, next_sync_at null, the full record",
            pause_facts(before, paused, self.read()),
        )
        again = self.call("POST", "/pause")
        self.check(
            "lifecycle.pause_again",
            "200, the paused record as it was",
            pause_again_facts(paused.body, again),
        )
        self.wait_until_unlocked()
        refused = self.call("POST", "/trigger")
        self.check(
            "lifecycle.trigger_paused",
            "400 BadRequestError envelope",
            envelope_facts(refused, 400, "BadRequestError"),
        )

    def wait_until_unlocked(self) -> None:
        """Let a run a scheduler started before the pause end (it fails at once against the
        closed port); unlock it if it has not within ``QUIET_TIMEOUT_SECONDS``."""
        deadline = time.monotonic() + QUIET_TIMEOUT_SECONDS
        while _obj(self.read()).get("locked") is True:
            if time.monotonic() > deadline:
                self.call("POST", "/unlock")
                return
            time.sleep(0.2)

    def check_patch(self) -> None:
        """D3 to D5: only what is sent changes; what is refused changes nothing."""
        sent: dict[str, Any] = {"description": f"{self.scratch.tag} description", "batch_size": 17}
        before = self.read()
        patched = self.call("PATCH", body=sent)
        self.check(
            "patch.only_sent_fields",
            "200, only the sent fields and updated_at changed, the full record",
            patch_facts(before, patched, self.read(), sent),
        )
        self.call("PATCH", body={"metadata": {"a": 1, "b": {"nested": True}}})
        before = self.read()
        replaced = self.call("PATCH", body={"metadata": {"c": "three"}})
        self.check(
            "patch.metadata_replaced",
            "200, metadata replaced, not merged",
            patch_facts(before, replaced, self.read(), {"metadata": {"c": "three"}}),
        )
        for name, summary, body, field_name, problem_type in REFUSED_PATCHES:
            before = self.read()
            answer = self.call("PATCH", body=body)
            facts = validation_facts(answer, field_name, problem_type)
            self.check(name, summary, [*facts, *unchanged_facts(before, self.read())])
        before = self.read()
        empty = self.call("PATCH", body={})
        self.check(
            "patch.empty_body",
            "422 ValidationError envelope; nothing changed",
            [*envelope_facts(empty, 422, "ValidationError"), *unchanged_facts(before, self.read())],
        )
        before = self.read()
        mixed = self.call("PATCH", body=ALL_OR_NOTHING_PATCH)
        self.check(
            "patch.all_or_nothing",
            "422 naming the bad field; the good one not applied either",
            [*validation_facts(mixed, "batch_size"), *unchanged_facts(before, self.read())],
        )

    def check_resume_trigger_unlock(self) -> None:
        """D19 to D21."""
        before = self.read()
        resumed = self.call("POST", "/resume")
        self.check(
            "lifecycle.resume",
            "200, unpaused, PENDING when it never ran, due",
            resume_facts(before, resumed, self.read()),
        )
        triggered = self.call("POST", "/trigger")
        self.check(
            "lifecycle.trigger",
            "200 {success, sync_config_id, sync_job_id, status, full_sync}",
            trigger_facts(self.sync_id, triggered),
        )
        unlocked = self.call("POST", "/unlock")
        self.check(
            "lifecycle.unlock",
            "200 {success, sync_config_id, was_locked}",
            unlock_facts(self.sync_id, unlocked),
        )

    def check_isolation(self) -> None:
        """D9: from another namespace, the bucket and the sync are 404 NotFoundError."""
        try:
            other = self.scratch.create_or_fail(
                "namespace",
                "/v1/namespaces",
                {"namespace_name": self.scratch.name("other")},
                "namespace_id",
            )
        except SetupFailedError as failed:
            self.results.append(failed.result())
            self.results.append(
                CheckResult("namespace.isolation", SKIPPED, "-", "no second namespace")
            )
            return
        elsewhere = other["namespace_id"]
        bucket = self.client.request("GET", self.bucket_path, namespace=elsewhere)
        sync = self.call("GET", namespace=elsewhere)
        self.check(
            "namespace.isolation",
            "404 NotFoundError for the bucket and the sync from another namespace",
            [
                *(
                    (f"bucket: {what}", want, got)
                    for what, want, got in envelope_facts(bucket, 404, "NotFoundError")
                ),
                *(
                    (f"sync: {what}", want, got)
                    for what, want, got in envelope_facts(sync, 404, "NotFoundError")
                ),
            ],
        )

    def check_delete(self) -> None:
        """D13: the sync is deleted, and gone for a later GET."""
        deleted = self.call("DELETE")
        later = self.call("GET")
        self.check(
            "lifecycle.delete",
            "200 {success, sync_config_id}, then 404",
            delete_facts(self.sync_id, deleted, later),
        )
        if later.status == 404:
            self.scratch.forget(self.sync_id)


def connection_body(name: str, *, endpoint_url: str = UNREACHABLE_ENDPOINT) -> dict[str, Any]:
    """An S3 connection saved without a test, by default to a closed port on the server's
    loopback."""
    return {
        "name": name,
        "provider_type": "s3",
        "provider_config": {
            "credentials": {
                "type": "access_key",
                "access_key_id": "parity-check",
                "secret_access_key": "parity-check-not-a-secret",
            },
            "region": "us-east-1",
            "endpoint_url": endpoint_url,
        },
        "test_before_save": False,
    }


def preflight(client: Client, namespace: str | None) -> None:
    """Stop before creating anything when the server is not a Mixpeek API, refuses the key, or
    does not know the namespace asked for."""
    answer = client.request("POST", "/v1/namespaces/list", json_body={})
    if answer.status == 401:
        message = _obj(_obj(answer.body).get("error")).get("message") or answer.text[:100]
        raise ParityError(f"the server refused the API key (401: {message})")
    if not isinstance(answer.body, dict):
        raise ParityError(
            f"{client.base_url} does not answer /v1/namespaces/list with JSON (HTTP"
            f" {answer.status}): is it a Mixpeek API? (give the address without /v1)"
        )
    if namespace is not None:
        found = client.request("GET", f"/v1/namespaces/{_segment(namespace)}")
        if found.status != 200:
            raise ParityError(
                f"namespace {namespace!r} not found for this key (HTTP {found.status})"
            )


def cleanup_result(left: list[str]) -> CheckResult:
    summary = "every scratch resource deleted"
    if not left:
        return CheckResult("cleanup", PASSED, summary, AS_EXPECTED)
    return CheckResult("cleanup", DIFFERENT, summary, "left behind: " + ", ".join(left))


def format_table(results: list[CheckResult]) -> str:
    rows = [("CHECK", "RESULT", "EXPECTED", "OBSERVED")]
    rows += [(r.name, r.outcome, r.expected, r.observed) for r in results]
    widths = [max(len(row[column]) for row in rows) for column in range(3)]
    lines = [
        "  ".join(
            [*(cell.ljust(width) for cell, width in zip(row[:3], widths, strict=True)), row[3]]
        )
        for row in rows
    ]
    counts = {
        outcome: sum(r.outcome == outcome for r in results)
        for outcome in (PASSED, DIFFERENT, SKIPPED)
    }
    lines.append(
        f"{len(results)} checks: {counts[PASSED]} passed, {counts[DIFFERENT]} differ,"
        f" {counts[SKIPPED]} skipped"
    )
    return "\n".join(lines) + "\n"


@contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """SIGTERM stops the run as Ctrl-C does, so that the scratch resources are deleted."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def run_parity(
    *,
    base_url: str,
    api_key: str,
    namespace: str | None = None,
    timeout: float = DEFAULT_TIMEOUT_SECONDS,
    out: TextIO,
    err: TextIO,
    transport: Transport | None = None,
) -> int:
    """Run every check, print the table; 0 when all pass, 1 on a difference, 130 when
    interrupted. Raises ``ParityError`` when the run cannot start or the server is lost."""
    if not api_key:
        raise ParityError("no API key: pass --api-key or set MIXPEEK_API_KEY")
    if timeout <= 0:
        raise ParityError(f"--timeout must be more than 0 seconds, not {timeout:g}")
    client = Client(normalize_base_url(base_url), api_key, transport or UrllibTransport(timeout))
    checks = Checks(client, namespace=namespace)
    scratch = checks.scratch
    try:
        with _sigterm_as_interrupt():
            try:
                preflight(client, namespace)
                checks.run()
            finally:
                scratch.delete_all()
    except KeyboardInterrupt:
        if checks.results:
            out.write(format_table(checks.results))
        print(f"mixpeek-mock: parity: interrupted; {scratch.cleanup_line()}", file=err)
        return EXIT_INTERRUPTED
    except ParityError as exc:
        if checks.results:  # what was checked before the server was lost
            out.write(format_table(checks.results))
        if scratch.ever_created:
            raise ParityError(f"{exc}; {scratch.cleanup_line()}") from None
        raise
    results = [*checks.results, cleanup_result(scratch.left())]
    out.write(format_table(results))
    if scratch.left():
        print(f"mixpeek-mock: parity: {scratch.cleanup_line()}", file=err)
    return EXIT_DIFFERENT if any(result.outcome == DIFFERENT for result in results) else EXIT_PASSED
