"""Hostile input: every route that takes a body or a path identifier, fed what a fuzzer, a
broken client or an attacker sends.

Two rules hold for every row of the table, whatever it sends:

- the answer is never a 5xx;
- a 4xx is the D6 envelope and changes nothing: a dump of every table (schema and rows) is the
  same before and after. That also proves an SQL fragment in an identifier was never executed.

Some hostile-looking values are legal (a NUL inside a description, a duplicate key whose last
value is valid): those rows expect a 200, say why, and check what the answer shows. A second
test stores legal but awkward strings (quotes, "..", SQL, control characters, unicode) and reads
them back byte-for-byte.

Decisions where the contract is silent (each row repeats its own reason):

- Malformed JSON is FastAPI's 422 ``json_invalid``; a body that is not UTF-8, or whose text holds
  an unpaired UTF-16 surrogate, is a 400 (it cannot be stored as text).
- ``NaN``, ``Infinity`` and numbers that overflow to infinity are not JSON: 422.
- Nesting deeper than 32 levels is a 422 naming the field; nesting deeper than the JSON parser
  goes (about 1 000 levels) is refused while parsing, a 400.
- Duplicate keys: the last one wins, as in Python's json and most parsers; the answer is
  whatever the body with only the last value would get.
- Every typed integer (counters, sizes, versions, limits) lives in a signed 64-bit range:
  2**63 and above is a 422, as ``ttl_seconds`` already declares, since no column stores more.
  Free-form JSON (``metadata``) stores any finite number as given.
- Names follow the vendor's schema, which sets no pattern: NUL and control characters in a
  name are legal, stored verbatim, and the name still finds the resource.
- A percent-encoded identifier is one path segment: ``%2F``, ``%2E%2E`` and friends never route
  elsewhere, not even by a redirect; they name a resource that does not exist, so 404.

All rows share one server and database (module scope): a row that answers 4xx must leave the
database as it found it, which is exactly what the next row's "before" dump needs, and building
a fresh database per row would make the table take minutes instead of seconds.
"""

import hashlib
import json
import re
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute
from starlette.testclient import TestClient

from app.bootstrap import prepare_database
from app.db.database import Database
from app.main import create_app
from app.settings import Settings
from tests.conftest import ADMIN_TOKEN, API_KEY, BACKENDS, Api, dump_database, empty_database_url
from tests.postgres import PostgresServer
from tests.s3 import S3Store, trigger_and_wait

MAX_BODY = 1024 * 1024
INT64_MAX = 2**63 - 1
HUGE = 2**70

ERROR_TYPES = {
    400: "BadRequestError",
    401: "UnauthorizedError",
    404: "NotFoundError",
    409: "AlreadyExistsError",
    413: "PayloadTooLargeError",
    415: "UnsupportedMediaTypeError",
    422: "ValidationError",
}


# --- one server and one world for the whole module --------------------------------------------
# These override conftest's function-scoped fixtures of the same names, so that conftest's
# `api` and `database` fixtures talk to one shared server and database file.


@pytest.fixture(scope="module", params=BACKENDS)
def settings(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    postgres_server: PostgresServer | None,
) -> Iterator[Settings]:
    folder: Path = tmp_path_factory.mktemp("hostile")
    with empty_database_url(request.param, folder, postgres_server) as url:
        yield Settings(database_url=url, api_key=API_KEY, admin_token=ADMIN_TOKEN)


@pytest.fixture(scope="module")
def app(settings: Settings) -> FastAPI:
    database = Database.open(settings.database_url)
    try:
        prepare_database(database, settings)
    finally:
        database.close()
    return create_app(settings)


@pytest.fixture(scope="module")
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client


@pytest.fixture(scope="module")
def database(settings: Settings, client: TestClient) -> Iterator[Database]:
    """A second connection to the shared database, for the before/after dumps."""
    db = Database.open(settings.database_url)
    yield db
    db.close()


@dataclass(frozen=True)
class World:
    """One of everything, in the `default` namespace, for the routes to point at."""

    namespace_id: str
    bucket_id: str
    connection_id: str
    sync_config_id: str
    object_id: str
    snapshot_name: str
    fault_id: str


@pytest.fixture(scope="module")
def world(client: TestClient, s3: S3Store) -> World:
    api = Api(client, API_KEY)
    namespace = api.ok("GET", "/v1/namespaces/default")
    bucket = api.make_bucket("videos")
    connection = api.make_connection("minio")
    sync = api.make_sync(bucket, connection, metadata={"team": "media"})
    # A real object, made by a run of a second sync from moto's S3 server.
    source = s3.new_bucket("hostile")
    s3.put(source, "media/in/a.txt", b"a file")
    store = api.ok("POST", "/v1/organizations/connections", json=s3.connection_body("moto"))
    trigger_and_wait(api, api.make_sync(bucket, store, source_path=f"{source}/media/in"))
    (made,) = api.ok("GET", f"/v1/buckets/{bucket['bucket_id']}/objects")["results"]
    # A snapshot and a fault rule for the admin routes to name. The rule can fire on nothing
    # the table sends; the clock is frozen so that a refused clock change can be seen to have
    # left it where it was.
    admin = Api(client, ADMIN_TOKEN)
    snapshot = admin.ok("POST", "/_mock/snapshots", json={"name": "hostile"})
    fault = admin.ok(
        "POST", "/_mock/faults", json={"method": "OPTIONS", "path": "/v1/never/**", "delay_ms": 0}
    )
    admin.ok("POST", "/_mock/clock", json={"freeze": True, "set": "2031-01-01T00:00:00Z"})
    return World(
        namespace_id=namespace["namespace_id"],
        bucket_id=bucket["bucket_id"],
        connection_id=connection["connection_id"],
        sync_config_id=sync["sync_config_id"],
        object_id=made["object_id"],
        snapshot_name=snapshot["name"],
        fault_id=fault["fault_id"],
    )


def dump(database: Database) -> str:
    """Every table's rows (and on SQLite its schema), as text."""
    return dump_database(database)


def state(client: TestClient, database: Database) -> tuple[str, Any, Any]:
    """What a refused request must leave as it was: every table (snapshots, the stored clock
    and seeded records included), and what the admin API keeps in memory or reads live: the
    fault rules and the clock (frozen by the world, so its reading is stable)."""
    faults = client.get("/_mock/faults", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
    clock = client.get("/_mock/clock", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
    assert faults.status_code == clock.status_code == 200, (faults.text, clock.text)
    return dump(database), faults.json(), clock.json()


# --- the routes ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Route:
    method: str
    # `{bucket_id}` and the like are filled from the World.
    path: str
    # A body the route accepts, or None for a route without one. "{connection_id}" is filled in.
    body: dict[str, Any] | None = None
    # The route's free-form JSON object field, where arbitrary nesting and numbers can go.
    # List routes without one get "metadata", an unknown key (422 on its own).
    freeform: str = "metadata"
    # The body may be absent, empty or null (every list route's may, D12).
    optional_body: bool = False


S3_CONFIG = {
    "credentials": {
        "type": "access_key",
        "access_key_id": "minioadmin",
        "secret_access_key": "minioadmin-secret",
    },
    "region": "us-east-1",
    "endpoint_url": "http://127.0.0.1:9000",
}
SYNC = "/v1/buckets/{bucket_id}/syncs/{sync_config_id}"

ROUTES = {
    "create namespace": Route(
        "POST", "/v1/namespaces", {"namespace_name": "never-created {unique}"}, "infrastructure"
    ),
    "list namespaces": Route("POST", "/v1/namespaces/list", {}, "filters"),
    "list namespaces (GET)": Route("GET", "/v1/namespaces"),
    "create bucket": Route(
        "POST",
        "/v1/buckets",
        {"bucket_name": "never-created {unique}", "bucket_schema": {"properties": {}}},
    ),
    "list buckets": Route("POST", "/v1/buckets/list", {}, "filters"),
    "list buckets (GET)": Route("GET", "/v1/buckets"),
    "create connection": Route(
        "POST",
        "/v1/organizations/connections",
        {
            "name": "never-created {unique}",
            "provider_type": "s3",
            "provider_config": S3_CONFIG,
            "test_before_save": False,
        },
    ),
    "list connections": Route("POST", "/v1/organizations/connections/list", {}),
    "list connections (GET)": Route("GET", "/v1/organizations/connections"),
    "create sync": Route(
        "POST",
        "/v1/buckets/{bucket_id}/syncs",
        {"connection_id": "{connection_id}", "source_path": "media/never-created {unique}"},
    ),
    "list syncs": Route("POST", "/v1/buckets/{bucket_id}/syncs/list", {}),
    "list objects": Route("POST", "/v1/buckets/{bucket_id}/objects/list", {}, "filters"),
    "list objects (GET)": Route("GET", "/v1/buckets/{bucket_id}/objects"),
    # A valid field beside the hostile one also shows PATCH is all-or-nothing (D4).
    "update sync": Route("PATCH", SYNC, {"description": "never applied"}),
    "list sync jobs": Route("POST", SYNC + "/jobs", {}),
    "list dlq entries": Route("POST", SYNC + "/dlq", {}),
    # The world has no dead letters: a row that wrongly succeeds requeues or marks nothing.
    "requeue dlq entries": Route("POST", SYNC + "/dlq/requeue", {}, optional_body=True),
    "bulk-mark dlq entries": Route(
        "POST", SYNC + "/dlq/bulk-mark-failed", {"error_types": ["download_failed"]}
    ),
    # The admin API (D28 to D32), with the admin token. A seed of one new organization, a
    # snapshot of a new name, a clock change that changes nothing (the world froze it) and a
    # rule that can fire on nothing: a row that wrongly succeeds stays harmless.
    "seed": Route("POST", "/_mock/seed", {"organizations": [{"name": "never-created {unique}"}]}),
    "save snapshot": Route("POST", "/_mock/snapshots", {"name": "never-created-{unique}"}),
    "move clock": Route("POST", "/_mock/clock", {"freeze": True}),
    "add fault": Route(
        "POST",
        "/_mock/faults",
        {"method": "OPTIONS", "path": "/v1/never-created-{unique}/**", "status": 599},
        "details",
    ),
    "count journal": Route("POST", "/_mock/requests/count", {}, optional_body=True),
    "read journal": Route("GET", "/_mock/requests"),
    # Takes no body: only refusals are sent to it (a reset would empty the world).
    "reset": Route("POST", "/_mock/reset"),
}
ADMIN_ROUTES = [name for name, route in ROUTES.items() if route.path.startswith("/_mock/")]
BODY_ROUTES = [name for name, route in ROUTES.items() if route.body is not None]
V1_ROUTES = [name for name in ROUTES if name not in ADMIN_ROUTES]
LIST_ROUTES = [name for name in ROUTES if name.startswith("list")]


# --- the cases ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    route: str
    label: str
    status: int
    why: str
    # Merged over the route's valid body, then encoded with every non-ASCII character escaped,
    # so that even a lone surrogate travels as the six characters `\ud800`.
    fields: dict[str, Any] = field(default_factory=dict)
    # Appended to the encoded body as raw JSON text; a key may repeat one already present.
    raw: tuple[tuple[str, bytes], ...] = ()
    # The whole body, exactly these bytes (replaces the route's body).
    content: bytes | None = None
    content_type: str = "application/json"
    # Re-encode the (ASCII) JSON text of the body in this encoding.
    encoding: str = "utf-8"
    # Pad the body with an extra string field to exactly this many bytes.
    pad_to: int | None = None
    # Send the body in 64 KiB chunks, without a Content-Length.
    chunked: bool = False
    query: dict[str, Any] = field(default_factory=dict)
    # Replace the route's method and path, and take the body of another route (the path
    # identifier cases).
    method: str | None = None
    path: str | None = None
    body_route: str | None = None
    # The X-Namespace header; None sends none.
    namespace: str | None = "default"
    # The bearer token; None: the admin token under /_mock/, the API key elsewhere; "": none.
    auth: str | None = None
    # On a 2xx: values the answer must show.
    shows: dict[str, Any] | None = None

    @property
    def id(self) -> str:
        return f"{self.route}: {self.label}"


def nested_objects(depth: int) -> bytes:
    """A JSON object nested `depth` levels deep: {"a": {"a": ... {}}}."""
    return b'{"a":' * (depth - 1) + b"{}" + b"}" * (depth - 1)


def nested_arrays(depth: int) -> bytes:
    """An object holding arrays nested `depth` levels deep: {"a": [[...]]}."""
    return b'{"a":' + b"[" * depth + b"]" * depth + b"}"


def _whole_body_cases(route: str) -> list[Case]:
    """What any JSON body route gets for a body that is not a JSON object, or not JSON."""
    is_list = route.startswith("list")
    optional = is_list or ROUTES[route].optional_body
    freeform = ROUTES[route].freeform
    object_status = 200 if optional else 422
    # A list body ignores keys it does not define (README, "List bodies"): the padding and the
    # free-form value under an unknown key are parsed, within the body's bounds, then dropped.
    ignored = is_list and freeform == "metadata"
    bounded = 200 if ignored else 422
    return [
        Case(route, "truncated JSON", 422, "not JSON: json_invalid", content=b'{"description": '),
        Case(route, "trailing comma", 422, "not JSON", content=b'{"description": "x",}'),
        Case(route, "single-quoted JSON", 422, "not JSON", content=b"{'description': 'x'}"),
        Case(
            route,
            "raw control character in a string",
            422,
            "JSON requires control characters in strings to be escaped",
            content=b'{"description": "a\x01b"}',
        ),
        Case(route, "an array", 422, "the body must be an object", content=b"[]"),
        Case(route, "an array of objects", 422, "the body must be an object", content=b"[{}]"),
        Case(route, "a string", 422, "the body must be an object", content=b'"{}"'),
        Case(route, "a number", 422, "the body must be an object", content=b"42"),
        Case(route, "true", 422, "the body must be an object", content=b"true"),
        Case(
            route,
            "null",
            object_status,
            "the body is optional and declared nullable (D12)"
            if optional
            else "the body must be an object",
            content=b"null",
        ),
        Case(
            route,
            "empty body",
            object_status,
            "an empty optional body means no filter (D12)" if optional else "a body is required",
            content=b"",
        ),
        Case(
            route,
            "JSON sent as text/plain",
            415,
            "bodies must be application/json",
            content=b"{}",
            content_type="text/plain",
        ),
        Case(
            route,
            "invalid UTF-8",
            400,
            "the body must be UTF-8 text",
            content=b'{"description": "\xff\xfe"}',
        ),
        Case(
            route,
            "overlong UTF-8 encoding",
            400,
            "the body must be UTF-8 text (an overlong '/')",
            content=b'{"description": "\xc0\xaf"}',
        ),
        Case(
            route,
            "surrogate encoded as UTF-8 bytes in a free-form value",
            400,
            "not valid UTF-8 (CESU-8 style bytes for U+D800)",
            raw=((freeform, b'{"k": "\xed\xa0\x80"}'),),
        ),
        Case(
            route,
            "lone high surrogate escape",
            400,
            "an unpaired surrogate cannot be stored as text",
            fields={"description": "\ud800"},
        ),
        Case(
            route,
            "lone low surrogate escape",
            400,
            "an unpaired surrogate cannot be stored as text",
            fields={"description": "\udc00"},
        ),
        Case(
            route,
            "reversed surrogate pair",
            400,
            "low then high is two unpaired surrogates",
            fields={"description": "\udc00\ud800"},
        ),
        Case(
            route,
            "lone surrogate in a free-form key",
            400,
            "an unpaired surrogate cannot be stored as text",
            fields={freeform: {"\ud800": 1}},
        ),
        Case(
            route,
            "lone surrogate escape in a UTF-16 body",
            400,
            "the same unpaired surrogate, in another encoding",
            raw=((freeform, b'{"k": "\\ud800"}'),),
            encoding="utf-16",
        ),
        Case(
            route,
            "lone surrogate escape in a UTF-32 body",
            400,
            "the same unpaired surrogate, in another encoding",
            raw=((freeform, b'{"k": "\\udfff"}'),),
            encoding="utf-32",
        ),
        Case(
            route,
            f"{freeform} nested 33 levels",
            bounded,
            "one level past the 32-level limit",
            raw=((freeform, nested_objects(33)),),
        ),
        Case(
            route,
            f"{freeform} nested 40 levels",
            bounded,
            "nested deeper than 32 levels",
            raw=((freeform, nested_objects(40)),),
        ),
        Case(
            route,
            f"{freeform} holding arrays nested 40 levels",
            bounded,
            "arrays count as levels too",
            raw=((freeform, nested_arrays(40)),),
        ),
        Case(
            route,
            f"{freeform} over 16 KiB",
            bounded,
            "a free-form value takes at most 16 KiB as JSON",
            raw=((freeform, b'{"k": "' + b"x" * 16_384 + b'"}'),),
        ),
        Case(
            route,
            "an object of 300 keys",
            422,
            "more keys than any request object may have: refused before they are checked",
            fields={f"k{i}": 0 for i in range(300)},
        ),
        Case(
            route,
            f"{freeform} nested 1 000 levels",
            400,
            "deeper than the JSON parser goes: refused while parsing",
            raw=((freeform, nested_objects(1_000)),),
        ),
        Case(
            route,
            f"{freeform} nested 10 000 levels",
            400,
            "deeper than the JSON parser goes: refused while parsing",
            raw=((freeform, nested_objects(10_000)),),
        ),
        Case(
            route,
            "NaN in a free-form object",
            422,
            "NaN is not JSON",
            raw=((freeform, b'{"n": NaN}'),),
        ),
        Case(
            route,
            "Infinity in a free-form object",
            422,
            "Infinity is not JSON",
            raw=((freeform, b'{"n": Infinity}'),),
        ),
        Case(
            route,
            "-Infinity in a free-form object",
            422,
            "-Infinity is not JSON",
            raw=((freeform, b'{"n": -Infinity}'),),
        ),
        Case(
            route,
            "1e400 in a free-form object",
            422,
            "overflows to infinity, which JSON cannot carry back",
            raw=((freeform, b'{"n": 1e400}'),),
        ),
        Case(
            route,
            "5 000-digit integer in a free-form object",
            400,
            "more digits than the parser converts: refused while parsing",
            raw=((freeform, b'{"n": 1' + b"0" * 5_000 + b"}"),),
        ),
        Case(
            route,
            "exactly 1 MiB",
            200 if is_list and route != "list objects" else 422,
            "within the size limit; the padding key is unknown (a list ignores it, but for the"
            " objects list's)",
            pad_to=MAX_BODY,
        ),
        Case(route, "1 MiB + 1 byte", 413, "over the 1 MiB limit", pad_to=MAX_BODY + 1),
        Case(
            route,
            "1 MiB + 1 byte, chunked without a length",
            413,
            "the limit counts bytes received, not the declared length",
            pad_to=MAX_BODY + 1,
            chunked=True,
        ),
    ]


# Every typed integer field, by route; a dotted name is a field of a nested object.
INTEGER_FIELDS = {
    "create namespace": ["ttl_seconds"],
    "list buckets": ["limit", "offset"],
    "create sync": [
        "polling_interval_seconds",
        "batch_size",
        "max_objects_per_run",
        "sync_concurrency",
        "file_filters.min_size_bytes",
        "file_filters.max_size_bytes",
        "ingest_filter.retriever_version",
        "ingest_filter.timeout_seconds",
    ],
    "update sync": [
        "polling_interval_seconds",
        "batch_size",
        "max_objects_per_run",
        "sync_concurrency",
        "ingest_filter.retriever_version",
        "ingest_filter.timeout_seconds",
    ],
    # A fault rule's seed may be negative: its own rows are below.
    "add fault": ["delay_ms", "retry_after", "times", "after"],
    "count journal": ["status"],
    "move clock": ["advance_seconds"],
}
# What a nested object needs besides the field under test.
REQUIRED_SIBLINGS: dict[str, dict[str, Any]] = {"ingest_filter": {"retriever_id": "r"}}


def _set(name: str, value: Any) -> dict[str, Any]:
    """{"a": {"b": value}} for "a.b" (with the object's required siblings)."""
    if "." not in name:
        return {name: value}
    parent, child = name.split(".", 1)
    return {parent: {**REQUIRED_SIBLINGS.get(parent, {}), child: value}}


def _integer_cases() -> list[Case]:
    """Every typed integer: one past the 64-bit range, 2**70, and -1."""
    return [
        Case(route, f"{name} = {shown}", 422, why, fields=_set(name, value))
        for route, names in INTEGER_FIELDS.items()
        for name in names
        for shown, value, why in [
            ("2**63", 2**63, "past the 64-bit range"),
            ("2**70", HUGE, "past the 64-bit range"),
            ("-1", -1, "never negative"),
        ]
    ]


def _query_cases() -> list[Case]:
    """Pagination parameters on every list route (D12: limit 1..1000, offset 0..10000)."""
    bad = [
        ("limit", -1),
        ("limit", 0),
        ("limit", HUGE),
        ("offset", -1),
        ("offset", HUGE),
        ("page", -1),
        ("page", HUGE),
        ("page_size", -1),
        ("page_size", HUGE),
        ("limit", "ten"),
        ("limit", "1e3"),
        ("offset", "1.5"),
        ("limit", "\x00"),
        ("include_total", "maybe"),
    ]
    cases = [
        Case(
            route, f"?{name}={value!r}", 422, "out of range or not an integer", query={name: value}
        )
        for route in LIST_ROUTES
        for name, value in bad
    ]
    cases += [
        Case(
            route,
            f"?page={page}&page_size={size}",
            422,
            "(page - 1) x page_size obeys the offset bound of 10 000",
            query={"page": page, "page_size": size},
        )
        for route in LIST_ROUTES
        for page, size in [(12, 1000), (10_001, 1000), (5_002, 2)]
    ]
    return cases


# Path identifiers: where the hostile text goes, and what the real resource there is called.
ID_ROUTES: dict[str, tuple[str, str, str, str | None]] = {
    # name: (method, path with {target}, the World field of the real resource, body route)
    "get namespace": ("GET", "/v1/namespaces/{target}", "namespace_id", None),
    "delete namespace": ("DELETE", "/v1/namespaces/{target}", "namespace_id", None),
    "get bucket": ("GET", "/v1/buckets/{target}", "bucket_id", None),
    "delete bucket": ("DELETE", "/v1/buckets/{target}", "bucket_id", None),
    "get connection": ("GET", "/v1/organizations/connections/{target}", "connection_id", None),
    "delete connection": (
        "DELETE",
        "/v1/organizations/connections/{target}",
        "connection_id",
        None,
    ),
    "create sync at bucket": ("POST", "/v1/buckets/{target}/syncs", "bucket_id", "create sync"),
    "list syncs at bucket": ("POST", "/v1/buckets/{target}/syncs/list", "bucket_id", "list syncs"),
    "get sync at bucket": (
        "GET",
        "/v1/buckets/{target}/syncs/{sync_config_id}",
        "bucket_id",
        None,
    ),
    "update sync at bucket": (
        "PATCH",
        "/v1/buckets/{target}/syncs/{sync_config_id}",
        "bucket_id",
        "update sync",
    ),
    "delete sync at bucket": (
        "DELETE",
        "/v1/buckets/{target}/syncs/{sync_config_id}",
        "bucket_id",
        None,
    ),
    "get sync": ("GET", "/v1/buckets/{bucket_id}/syncs/{target}", "sync_config_id", None),
    "list objects at bucket": (
        "POST",
        "/v1/buckets/{target}/objects/list",
        "bucket_id",
        "list objects",
    ),
    "list objects (GET) at bucket": ("GET", "/v1/buckets/{target}/objects", "bucket_id", None),
    "get object at bucket": (
        "GET",
        "/v1/buckets/{target}/objects/{object_id}",
        "bucket_id",
        None,
    ),
    "delete object at bucket": (
        "DELETE",
        "/v1/buckets/{target}/objects/{object_id}",
        "bucket_id",
        None,
    ),
    "get object": ("GET", "/v1/buckets/{bucket_id}/objects/{target}", "object_id", None),
    "delete object": ("DELETE", "/v1/buckets/{bucket_id}/objects/{target}", "object_id", None),
    "update sync": (
        "PATCH",
        "/v1/buckets/{bucket_id}/syncs/{target}",
        "sync_config_id",
        "update sync",
    ),
    "delete sync": ("DELETE", "/v1/buckets/{bucket_id}/syncs/{target}", "sync_config_id", None),
    **{
        f"{action} sync": (
            "POST",
            f"/v1/buckets/{{bucket_id}}/syncs/{{target}}/{action}",
            "sync_config_id",
            None,
        )
        for action in ("pause", "resume", "trigger", "unlock")
    },
    **{
        f"{name} at {place}": (
            method,
            SYNC.replace("{" + place + "}", "{target}") + suffix,
            place,
            body_route,
        )
        for name, method, suffix, body_route in [
            ("list sync jobs", "POST", "/jobs", "list sync jobs"),
            ("metrics", "GET", "/metrics", None),
            ("list dlq entries", "POST", "/dlq", "list dlq entries"),
            ("requeue dlq entries", "POST", "/dlq/requeue", "requeue dlq entries"),
            ("bulk-mark dlq entries", "POST", "/dlq/bulk-mark-failed", "bulk-mark dlq entries"),
        ]
        for place in ("bucket_id", "sync_config_id")
    },
    # The world has no job: its sync's id stands in for a real id (an id is matched exactly,
    # so "a real id + junk" is a 404 whatever the id).
    **{
        f"get sync job at {place}": (
            "GET",
            SYNC.replace("{" + place + "}", "{target}") + "/jobs/job_never_existed_000000",
            place,
            None,
        )
        for place in ("bucket_id", "sync_config_id")
    },
    "get sync job": ("GET", SYNC + "/jobs/{target}", "sync_config_id", None),
}

# The admin API's identifiers are not all free text: a snapshot name has a pattern (letters,
# digits, '.', '_' and '-', at most 100) and a fault id at most 100 characters, so some of the
# identifiers above are a 422 naming the parameter there rather than a 404. An encoded slash
# decodes before routing (see the module docstring): the path then matches no route, 404.
_NO_ROUTE = {"encoded slash inside", "encoded slash alone", "dot-dot traversal"}


def _snapshot_status(label: str, method: str) -> int:
    if label in _NO_ROUTE or (label == "real id + encoded slash" and method == "POST"):
        return 404  # "/_mock/snapshots/a/b/restore" and the like: no such route
    if label == "real id + encoded slash":
        return 404  # "/_mock/snapshots/hostile/": no such route either
    return 422  # every other identifier above breaks the name's pattern or length


def _fault_status(label: str, method: str) -> int:
    if label == "10 000 characters":
        return 422  # a fault id is at most 100 characters
    return 404


ADMIN_ID_ROUTES: dict[str, tuple[str, str, str, Any]] = {
    # name: (method, path with {target}, the World field, the status for an identifier label)
    "restore snapshot": (
        "POST",
        "/_mock/snapshots/{target}/restore",
        "snapshot_name",
        _snapshot_status,
    ),
    "delete snapshot": ("DELETE", "/_mock/snapshots/{target}", "snapshot_name", _snapshot_status),
    "delete fault": ("DELETE", "/_mock/faults/{target}", "fault_id", _fault_status),
}

# (label, the path segment as sent, percent-encoding included; {real} is the real id there)
IDENTIFIERS = [
    ("NUL byte", "%00"),
    ("control character", "%01"),
    ("DEL", "%7F"),
    ("real id + NUL", "{real}%00"),
    ("real id + NUL + junk", "{real}%00x"),
    ("real id + trailing space", "{real}%20"),
    ("encoded slash inside", "a%2Fb"),
    ("encoded slash alone", "%2F"),
    ("real id + encoded slash", "{real}%2F"),
    # Clients resolve a literal `..` segment before sending (RFC 3986); encoded, it reaches
    # the server and decodes to the identifier "..".
    ("dot-dot", "%2E%2E"),
    ("dot-dot traversal", "%2E%2E%2F%2E%2E%2Fv1%2Fnamespaces"),
    ("single quote", "%27"),
    ("double quote", "%22"),
    ("SQL tautology", quote("x' OR '1'='1", safe="")),
    ("SQL statement", quote("1; DROP TABLE buckets; --", safe="")),
    ("real id + SQL comment", "{real}" + quote("' --", safe="")),
    ("LIKE wildcard", "%25"),
    ("invalid UTF-8", "%FF"),
    ("UTF-8 encoded surrogate", "%ED%A0%80"),
    ("10 000 characters", "a" * 10_000),
]


def _identifier_cases() -> list[Case]:
    return [
        Case(
            route_name,
            f"path {label}",
            404,
            "an identifier is matched exactly, as one path segment",
            method=method,
            path=path.replace("{target}", segment.replace("{real}", "{" + real + "}")),
            body_route=body_route,
        )
        for route_name, (method, path, real, body_route) in ID_ROUTES.items()
        for label, segment in IDENTIFIERS
    ] + [
        Case(
            route_name,
            f"path {label}",
            expected(label, method),
            "no such record (404), a malformed identifier (422) or no such route (404)",
            method=method,
            path=path.replace("{target}", segment.replace("{real}", "{" + real + "}")),
        )
        for route_name, (method, path, real, expected) in ADMIN_ID_ROUTES.items()
        for label, segment in IDENTIFIERS
    ]


NAMESPACE_ROUTES = [
    "create bucket",
    "list buckets",
    "list buckets (GET)",
    "create sync",
    "list syncs",
    "update sync",
    "list sync jobs",
    "list dlq entries",
    "requeue dlq entries",
    "bulk-mark dlq entries",
    "list objects",
    "list objects (GET)",
]
NAMESPACES = [
    ("SQL tautology", "x' OR '1'='1"),
    ("double quote", '"'),
    ("dot-dot", ".."),
    ("control character", "default\x01"),
    ("trailing space", "default "),
]


def _namespace_cases() -> list[Case]:
    """X-Namespace (D8) is an identifier too; `?namespace=` carries what a header cannot."""
    cases = [
        Case(route, f"X-Namespace: {label}", 404, "no such namespace", namespace=value)
        for route in NAMESPACE_ROUTES
        for label, value in NAMESPACES
    ]
    cases += [
        Case(
            route,
            f"?namespace={value!r}",
            404,
            "no such namespace",
            namespace=None,
            query={"namespace": value},
        )
        for route in NAMESPACE_ROUTES
        for value in ("\x00", "default\x00", "x' OR '1'='1")
    ]
    return cases


SPECIFIC_CASES = [
    # NUL and control characters inside strings.
    Case(
        "create namespace",
        "NUL in namespace_name",
        200,
        "the vendor's schema sets no pattern on names",
        fields={"namespace_name": "nul\x00ns"},
        shows={"namespace_name": "nul\x00ns"},
    ),
    Case(
        "create bucket",
        "NUL in bucket_name, control character in description",
        200,
        "the vendor's schema sets no pattern on names",
        fields={"bucket_name": "nul\x00bucket", "description": "ctl\x01\x1f"},
        shows={"bucket_name": "nul\x00bucket", "description": "ctl\x01\x1f"},
    ),
    Case(
        "create connection",
        "NUL in name, control characters in description",
        200,
        "the vendor's schema sets no pattern on names",
        fields={"name": "nul\x00conn", "description": "\x01\x1f\x7f"},
        shows={"name": "nul\x00conn", "description": "\x01\x1f\x7f"},
    ),
    Case(
        "create connection",
        "NUL in provider_type",
        422,
        "not one of the provider types",
        fields={"provider_type": "s3\x00"},
    ),
    Case(
        "create sync",
        "NUL in description and source_path",
        200,
        "free text",
        fields={"description": "a\x00b\x01", "source_path": "in\x00put"},
        shows={"description": "a\x00b\x01", "source_path": "in\x00put"},
    ),
    Case(
        "create sync",
        "101 include patterns",
        422,
        "at most 100 patterns",
        fields={"file_filters": {"include_patterns": ["*.mp4"] * 101}},
    ),
    Case(
        "create sync",
        "300 000 invalid batch_collection_ids",
        422,
        "at most 100 ids: refused on the count, before any item is looked at",
        fields={"batch_collection_ids": [1] * 300_000},
    ),
    Case(
        "create sync",
        "source_path of 2 049 characters",
        422,
        "at most 2 048 characters",
        fields={"source_path": "p" * 2_049},
    ),
    Case(
        "create sync",
        "metadata_filters value nested 300 arrays",
        422,
        "a filter value is free-form JSON: at most 32 levels",
        raw=(
            (
                "file_filters",
                b'{"metadata_filters": [{"field": "f", "value": '
                + b"[" * 300
                + b"]" * 300
                + b"}]}",
            ),
        ),
    ),
    Case(
        "create bucket",
        "bucket_schema nested 127 levels",
        422,
        "a bucket schema is bounded as a whole: at most 32 JSON levels",
        raw=(
            (
                "bucket_schema",
                b'{"properties": {"r": '
                + b'{"type": "object", "properties": {"c": ' * 127
                + b'{"type": "string"}'
                + b"}}" * 127
                + b"}}",
            ),
        ),
    ),
    Case(
        "create sync",
        "real connection id + NUL",
        404,
        "an id is matched exactly: no truncation at the NUL",
        fields={"connection_id": "{connection_id}\x00"},
    ),
    Case(
        "update sync",
        "NUL and control character in description",
        200,
        "free text",
        fields={"description": "a\x00b\x01c"},
        shows={"description": "a\x00b\x01c"},
    ),
    Case(
        "update sync",
        "NUL in status",
        422,
        "not one of the statuses",
        fields={"status": "PENDING\x00"},
    ),
    Case(
        "list syncs",
        "NUL in connection_id filter",
        200,
        "a filter that matches nothing",
        fields={"connection_id": "\x00"},
        shows={"results": [], "total": 0},
    ),
    Case(
        "list syncs",
        "real connection id + NUL as filter",
        200,
        "matched exactly: no truncation at the NUL",
        fields={"connection_id": "{connection_id}\x00"},
        shows={"results": [], "total": 0},
    ),
    Case(
        "list syncs", "NUL in status filter", 422, "not a status", fields={"status": "ACTIVE\x00"}
    ),
    Case(
        "list connections",
        "NUL in provider_type filter",
        422,
        "not a provider type",
        fields={"provider_type": "s3\x00"},
    ),
    Case(
        "list buckets",
        "NUL in search",
        200,
        "a search is free text",
        fields={"search": "a\x00b"},
    ),
    Case(
        "list namespaces",
        "SQL in search",
        200,
        "a search is free text, bound as a parameter",
        fields={"search": "%' OR '1'='1"},
        shows={"results": [], "total_count": 0},
    ),
    # An unpaired surrogate in a typed string that is bound as an SQL parameter.
    Case(
        "create sync",
        "lone surrogate in connection_id, UTF-16 body",
        400,
        "an unpaired surrogate cannot be text, in any encoding",
        fields={"connection_id": "\ud800"},
        encoding="utf-16",
    ),
    Case(
        "list syncs",
        "lone surrogate in connection_id filter, UTF-16 body",
        400,
        "an unpaired surrogate cannot be text, in any encoding",
        fields={"connection_id": "\udbff"},
        encoding="utf-16",
    ),
    # Depth: the limit itself is allowed.
    Case(
        "update sync",
        "metadata nested exactly 32 levels",
        200,
        "the limit itself is allowed",
        raw=(("metadata", nested_objects(32)),),
        shows={"metadata": json.loads(nested_objects(32))},
    ),
    # Free-form JSON keeps any finite number.
    Case(
        "update sync",
        "2**70 inside metadata",
        200,
        "metadata is free-form JSON: any finite number is stored as given",
        fields={"metadata": {"n": HUGE, "m": -HUGE}},
        shows={"metadata": {"n": HUGE, "m": -HUGE}},
    ),
    # The largest 64-bit integer is legal where the field has no smaller bound.
    Case(
        "create sync",
        "max_objects_per_run = 2**63 - 1",
        200,
        "the largest 64-bit integer",
        fields={"max_objects_per_run": INT64_MAX, "source_path": "media/int64"},
        shows={"max_objects_per_run": INT64_MAX},
    ),
    Case(
        "update sync",
        "max_objects_per_run = 2**63 - 1",
        200,
        "the largest 64-bit integer",
        fields={"max_objects_per_run": INT64_MAX},
        shows={"max_objects_per_run": INT64_MAX},
    ),
    # A valid surrogate pair is an ordinary character.
    Case(
        "update sync",
        "escaped surrogate pair",
        200,
        "a paired surrogate escape is one character (U+1F3AC)",
        content=b'{"description": "\\ud83c\\udfac"}',
        shows={"description": "\U0001f3ac"},
    ),
    # Duplicate keys: the last one wins.
    Case(
        "update sync",
        "duplicate key, last valid",
        200,
        "the last batch_size wins",
        content=b'{"batch_size": 0, "batch_size": 7}',
        shows={"batch_size": 7},
    ),
    Case(
        "update sync",
        "duplicate key, last invalid",
        422,
        "the last batch_size wins, and 0 is out of range",
        content=b'{"batch_size": 7, "batch_size": 0}',
    ),
    Case(
        "update sync",
        "duplicate key inside metadata",
        200,
        "the last value wins inside objects too",
        content=b'{"metadata": {"k": "first", "k": "last"}}',
        shows={"metadata": {"k": "last"}},
    ),
    Case(
        "create namespace",
        "duplicate namespace_name",
        200,
        "the last name wins",
        content=b'{"namespace_name": "dup-first", "namespace_name": "dup-last"}',
        shows={"namespace_name": "dup-last"},
    ),
    Case(
        "create bucket",
        "duplicate bucket_name",
        200,
        "the last name wins",
        raw=(("bucket_name", b'"dup-last"'),),
        shows={"bucket_name": "dup-last"},
    ),
    Case(
        "create connection",
        "duplicate provider_type, last invalid",
        422,
        "the last provider_type wins, and it is not one",
        raw=(("provider_type", b'"not-a-provider"'),),
    ),
    Case(
        "create sync",
        "duplicate connection_id, last unknown",
        404,
        "the last connection_id wins, and no such connection exists",
        raw=(("connection_id", b'"conn_does_not_exist"'),),
    ),
    Case(
        "create sync",
        "duplicate source_path",
        200,
        "the last source_path wins",
        raw=(("source_path", b'"media/dup-last"'),),
        shows={"source_path": "media/dup-last"},
    ),
    Case(
        "list syncs",
        "duplicate is_active, last valid",
        200,
        "the last is_active wins",
        content=b'{"is_active": "yes", "is_active": true}',
    ),
]

SPECIFIC_CASES += [
    Case(
        "list sync jobs",
        "NUL in status filter",
        422,
        "not a status",
        fields={"status": "failed\x00"},
    ),
    Case(
        "list dlq entries",
        "SQL and LIKE wildcards in error_types",
        200,
        "error types are bound as parameters and matched exactly",
        fields={"error_types": ["x' OR '1'='1", "%", "_", "download_failed%"]},
        shows={"results": [], "total": 0},
    ),
    Case(
        "list dlq entries",
        "51 error types",
        422,
        "at most 50 error types",
        fields={"error_types": ["NoSuchKey"] * 51},
    ),
    Case(
        "list dlq entries",
        "an error type of 256 characters",
        422,
        "a name is at most 255 characters",
        fields={"error_types": ["x" * 256]},
    ),
    Case(
        "requeue dlq entries",
        "300 000 error types",
        422,
        "refused on the count, before any item is looked at",
        fields={"error_types": [1] * 300_000},
    ),
    Case(
        "bulk-mark dlq entries",
        "no error types",
        422,
        "at least one error type",
        fields={"error_types": []},
    ),
    Case(
        "bulk-mark dlq entries",
        "NUL in an error type",
        200,
        "matched exactly: nothing has that type, nothing is marked",
        fields={"error_types": ["download_failed\x00"]},
        shows={"updated": 0},
    ),
]


def _auth_cases() -> list[Case]:
    """D28: the admin API opens to the admin token alone, and the admin token is no API key."""
    admin_routes = [
        (name, ROUTES[name].method, ROUTES[name].path, name) for name in ADMIN_ROUTES
    ] + [
        (name, method, path.replace("{target}", "{" + real + "}"), None)
        for name, (method, path, real, _) in ADMIN_ID_ROUTES.items()
    ]
    cases = [
        Case(
            name,
            label,
            401,
            why,
            method=method,
            path=path,
            body_route=body_route,
            auth=auth,
        )
        for name, method, path, body_route in admin_routes
        for label, auth, why in [
            ("an API key", API_KEY, "an API key never opens the admin API (D28)"),
            ("no token", "", "the admin API needs the admin token (D28)"),
            ("a wrong token", "mma_wrong", "not the admin token"),
        ]
    ]
    cases += [
        Case(name, "the admin token", 401, "the admin token is no API key (D28)", auth=ADMIN_TOKEN)
        for name in V1_ROUTES
    ]
    cases += [
        Case(
            name,
            "the admin token, at a real path",
            401,
            "the admin token is no API key (D28)",
            method=method,
            path=path.replace("{target}", "{" + real + "}"),
            body_route=body_route,
            auth=ADMIN_TOKEN,
        )
        for name, (method, path, real, body_route) in ID_ROUTES.items()
    ]
    cases += [
        Case(
            "admin API through /v1",
            f"{method} {path}",
            401,
            "the admin API is never reachable through /v1: an API key meets no such route, the"
            " admin token is refused as a key",
            method=method,
            path=path,
            auth=auth,
            content=b"{}" if method == "POST" else None,
        )
        for method, path in [
            ("POST", "/v1/_mock/reset"),
            ("GET", "/v1/_mock/faults"),
            ("POST", "/v1/%2E%2E/_mock/reset"),
        ]
        for auth in (ADMIN_TOKEN,)
    ]
    return cases


MALFORMED_JOURNAL_FILTERS: list[tuple[str, dict[str, Any]]] = [
    ("status 'abc'", {"status": "abc"}),
    ("status '200'", {"status": "200"}),
    ("since garbage", {"since": "garbage"}),
    ("since without an offset", {"since": "2030-01-01T00:00:00"}),
    ("path '**/' x 1000", {"path": "**/" * 1000}),
    ("method FETCH", {"method": "FETCH"}),
    ("limit (not a filter of the count)", {"limit": 10**9}),
]


def _admin_specific_cases() -> list[Case]:
    fault_rules: list[tuple[str, dict[str, Any]]] = [
        ("path /_mock/**", {"path": "/_mock/**"}),
        ("path /_mock/reset", {"path": "/_mock/reset"}),
        ("path **", {"path": "**"}),
        ("path /**", {"path": "/**"}),
        ("path /*/reset", {"path": "/*/reset"}),
        ("path /v1**", {"path": "/v1**"}),
        ("path /V1/x", {"path": "/V1/x"}),
        ("path %2F_mock", {"path": "%2F_mock/**"}),
        ("path empty", {"path": ""}),
        ("path of 1 025 characters", {"path": "/v1/" + "x" * 1021}),
        ("path '**/' x 1000", {"path": "/v1/" + "**/" * 1000}),
        ("delay_ms 10**12", {"delay_ms": 10**12}),
        ("delay_ms 60 001", {"delay_ms": 60_001}),
        ("delay_ms 1.5", {"delay_ms": 1.5}),
        ("delay_ms '5'", {"delay_ms": "5"}),
        ("probability 2", {"probability": 2}),
        ("probability -0.1", {"probability": -0.1}),
        ("probability 'NaN'", {"probability": "NaN"}),
        ("probability 'Infinity'", {"probability": "Infinity"}),
        ("probability '-inf'", {"probability": "-inf"}),
        ("times 0", {"times": 0}),
        ("times 'once'", {"times": "once"}),
        ("status 200", {"status": 200}),
        ("status 99", {"status": 99}),
        ("status 600", {"status": 600}),
        ("status '503'", {"status": "503"}),
        ("status 500.5", {"status": 500.5}),
        ("status null and nothing else", {"status": None}),
        ("status with drop", {"drop": True}),
        ("retry_after 3 601", {"retry_after": 3_601}),
        ("retry_after without a status", {"status": None, "delay_ms": 1, "retry_after": 1}),
        ("seed 2**63", {"seed": 2**63}),
        ("seed -2**63", {"seed": -(2**63)}),
        ("drop 'yes'", {"status": None, "drop": "yes"}),
        ("method FETCH", {"method": "FETCH"}),
        ("method of 11 characters", {"method": "G" * 11}),
        ("namespace empty", {"namespace": ""}),
        ("error_type with a space", {"error_type": "Bad Thing"}),
        ("error_type of 101 characters", {"error_type": "E" * 101}),
        ("message empty", {"message": ""}),
        ("message of 1 001 characters", {"message": "m" * 1_001}),
        ("details a list", {"details": [1]}),
        ("details a string", {"details": "x"}),
    ]
    cases = [
        Case(
            "add fault",
            label,
            422,
            "a malformed rule, or one that could match /_mock/ (D31): 422, and no rule added",
            fields=fields,
        )
        for label, fields in fault_rules
    ]
    snapshot_names: list[tuple[str, Any]] = [
        ("'/'", "/"),
        ("'a/b'", "a/b"),
        ("'..'", ".."),
        ("'../etc'", "../etc"),
        ("'.hidden'", ".hidden"),
        ("'-dash'", "-dash"),
        ("'%2F'", "%2F"),
        ("'a%2Fb'", "a%2Fb"),
        ("unicode", "caf\u00e9"),
        ("emoji", "\U0001f3ac"),
        ("NUL", "a\x00b"),
        ("trailing newline", "name\n"),
        ("space", "a b"),
        ("empty", ""),
        ("101 characters", "n" * 101),
        ("10 000 characters", "n" * 10_000),
        ("a number", 42),
        ("null", None),
        ("a list", ["a"]),
    ]
    cases += [
        Case(
            "save snapshot",
            f"name {label}",
            422,
            "a snapshot name is a plain word of at most 100 characters: 422 naming it",
            fields={"name": value},
        )
        for label, value in snapshot_names
    ]
    clock_changes: list[tuple[str, dict[str, Any]]] = [
        ("set year 0", {"set": "0000-01-01T00:00:00Z"}),
        ("set year 1", {"set": "0001-01-01T00:00:00Z"}),
        ("set 1969", {"set": "1969-12-31T23:59:59Z"}),
        ("set year 9000", {"set": "9000-01-01T00:00:00Z"}),
        ("set year 9999", {"set": "9999-12-31T23:59:59Z"}),
        ("set year 99999", {"set": "99999-01-01T00:00:00Z"}),
        ("set without an offset", {"set": "2030-01-01T00:00:00"}),
        ("set an offset of 25 hours", {"set": "2030-01-01T00:00:00+25:00"}),
        ("set garbage", {"set": "tomorrow"}),
        ("set empty", {"set": ""}),
        ("set 1e20", {"set": 1e20}),
        ("set a list", {"set": ["2030-01-01T00:00:00Z"]}),
        ("advance -1", {"advance_seconds": -1}),
        ("advance -1e-9", {"advance_seconds": -1e-9}),
        ("advance 1e12", {"advance_seconds": 1e12}),
        ("advance 10 years + 1 s", {"advance_seconds": 10 * 365 * 24 * 3600 + 1}),
        ("advance 'NaN'", {"advance_seconds": "NaN"}),
        ("advance 'inf'", {"advance_seconds": "inf"}),
        ("advance 'soon'", {"advance_seconds": "soon"}),
        ("advance a list", {"advance_seconds": [1]}),
        ("freeze 'yes'", {"freeze": "yes"}),
        ("freeze 1", {"freeze": 1}),
        (
            "a valid set beside a bad advance",
            {"set": "2040-01-01T00:00:00Z", "advance_seconds": -5},
        ),
        ("a valid unfreeze beside a bad set", {"freeze": False, "set": "1900-01-01T00:00:00Z"}),
        (
            "past the latest clock by advances",
            {"set": "8999-12-31T00:00:00Z", "advance_seconds": 86_400},
        ),
        ("speed", {"speed": 2}),
    ]
    cases += [
        Case(
            "move clock",
            label,
            422,
            "a malformed clock change: 422 naming the field, and the clock stays where it was",
            fields=fields,
        )
        for label, fields in clock_changes
    ]
    cases.append(
        Case(
            "move clock",
            "nothing to change",
            200,
            "no change reads the clock (the world froze it)",
            content=b"{}",
            shows={"now": "2031-01-01T00:00:00Z", "frozen": True},
        )
    )
    deep = {"organizations": [{"name": "deep", "namespaces": [{"namespace_name": "d"}]}]}
    seeds: list[tuple[str, Any]] = [
        ("organizations a string", {"organizations": "x"}),
        ("organizations an object", {"organizations": {"name": "x"}}),
        ("organizations null", {"organizations": None}),
        ("an organization a string", {"organizations": ["x"]}),
        ("an organization's name a number", {"organizations": [{"name": 5}]}),
        ("an organization without a name", {"organizations": [{}]}),
        ("an unknown key", {"organisations": []}),
        (
            "a key too short",
            {"organizations": [{"name": "never-created {unique}", "api_keys": ["sk"]}]},
        ),
        (
            "10 001 records",
            {
                "organizations": [
                    {"name": "many", "api_keys": [f"sk_key_{i:08}" for i in range(10_001)]}
                ]
            },
        ),
        (
            "a bucket schema nested 40 levels",
            {
                "organizations": [
                    {
                        "name": "never-created {unique}",
                        "namespaces": [
                            {
                                "namespace_name": "n-deep",
                                "buckets": [
                                    {
                                        "bucket_name": "b",
                                        "bucket_schema": json.loads(nested_objects(40)),
                                    }
                                ],
                            }
                        ],
                    }
                ]
            },
        ),
        (
            "a namespace's buckets a number",
            {
                "organizations": [
                    {
                        **deep["organizations"][0],
                        "namespaces": [{"namespace_name": "d", "buckets": 7}],
                    }
                ]
            },
        ),
        (
            "the same namespace twice",
            {
                "organizations": [
                    {
                        "name": "never-created {unique}",
                        "namespaces": [{"namespace_name": "twice"}, {"namespace_name": "twice"}],
                    }
                ]
            },
        ),
        (
            "a sync naming a missing connection",
            {
                "organizations": [
                    {
                        "name": "never-created {unique}",
                        "namespaces": [
                            {
                                "namespace_name": "n",
                                "buckets": [
                                    {
                                        "bucket_name": "b",
                                        "bucket_schema": {"properties": {}},
                                        "syncs": [{"connection_id": "nowhere", "source_path": "x"}],
                                    }
                                ],
                            }
                        ],
                    }
                ]
            },
        ),
        (
            "the world's bucket id again",
            {
                "organizations": [
                    {
                        "name": "never-created {unique}",
                        "namespaces": [
                            {
                                "namespace_name": "n",
                                "buckets": [
                                    {
                                        "bucket_id": "{bucket_id}",
                                        "bucket_name": "b",
                                        "bucket_schema": {"properties": {}},
                                    }
                                ],
                            }
                        ],
                    }
                ]
            },
        ),
        (
            "the tests' API key for a new organization",
            {"organizations": [{"name": "never-created {unique}", "api_keys": [API_KEY]}]},
        ),
    ]
    cases += [
        Case("seed", label, 422, "a fixture with a problem loads nothing (D29)", fields=value)
        for label, value in seeds
    ]
    cases += [
        Case(
            "count journal",
            label,
            422,
            "a malformed filter: 422 naming it",
            fields=fields,
        )
        for label, fields in MALFORMED_JOURNAL_FILTERS
    ]
    cases += [
        Case(
            "count journal",
            "path '**/' x 341",
            200,
            "a glob of nothing but wildcards is matched in bounded time",
            fields={"path": HUGE_GLOB},
        ),
        Case(
            "reset",
            "malformed JSON body",
            422,
            "the guard judges every body before routing: nothing is reset",
            content=b"{",
        ),
        Case(
            "reset",
            "a body sent as text/plain",
            415,
            "bodies must be application/json: nothing is reset",
            content=b"{}",
            content_type="text/plain",
        ),
        Case(
            "reset",
            "1 MiB + 1 byte",
            413,
            "over the body limit: nothing is reset",
            content=b" " * (MAX_BODY + 1),
        ),
    ]
    return cases


HUGE_GLOB = "**/" * 341  # 1 023 characters: the longest glob, nothing but wildcards


def _journal_query_cases() -> list[Case]:
    bad: list[tuple[str, Any]] = [
        ("status", "abc"),
        ("status", 99),
        ("status", 600),
        ("status", HUGE),
        ("since", "garbage"),
        ("since", "2030-01-01T00:00:00"),  # no offset
        ("since", "0000-01-01T00:00:00Z"),
        ("since", "99999-01-01T00:00:00Z"),
        ("limit", 0),
        ("limit", -1),
        ("limit", 10**9),
        ("limit", "ten"),
        ("method", "FETCH"),
        ("method", "GET\x00"),
        ("path", ""),
        ("path", "**/" * 1000),
        ("namespace", ""),
        ("namespace", "n" * 1000),
        ("colour", "red"),
    ]
    cases = [
        Case(
            "read journal",
            f"?{name}={str(value)[:40]!r}",
            422,
            "malformed, out of range or unknown: a 422 naming the parameter",
            query={name: value},
        )
        for name, value in bad
    ]
    cases += [
        Case(
            "read journal",
            f"?path={label}",
            200,
            "a glob of nothing but wildcards is matched in bounded time",
            query={"path": glob},
        )
        for label, glob in [
            ("'**/' x 341", HUGE_GLOB),
            ("'*a' x 500", "/v1/" + "*a" * 500),
            ("'**a' x 300 + X", "/v1/" + "**a" * 300 + "X"),
        ]
    ]
    cases += [
        Case(
            "read journal",
            f"?namespace={value!r}",
            200,
            "matches nothing, bound as a parameter",
            query={"namespace": value},
            shows={"results": [], "total": 0},
        )
        for value in ("x' OR '1'='1", "\x00", "%")
    ]
    return cases


CASES = [
    *[case for route in BODY_ROUTES for case in _whole_body_cases(route)],
    *_auth_cases(),
    *_journal_query_cases(),
    *_integer_cases(),
    *_query_cases(),
    *_identifier_cases(),
    *_namespace_cases(),
    *_admin_specific_cases(),
    *SPECIFIC_CASES,
]


# --- sending a case -----------------------------------------------------------------------------


def _fill(value: Any, world: World, unique: str = "") -> Any:
    """`value` with "{connection_id}" and the like replaced by the world's ids, and "{unique}"
    by `unique` (so that a row that wrongly succeeds cannot make the next one a 409)."""
    if isinstance(value, str):
        for name, real in [*asdict(world).items(), ("unique", unique)]:
            value = value.replace("{" + name + "}", real)
        return value
    if isinstance(value, dict):
        return {key: _fill(item, world, unique) for key, item in value.items()}
    if isinstance(value, list):
        return [_fill(item, world, unique) for item in value]
    return value


def encode_body(body: dict[str, Any], raw: Sequence[tuple[str, bytes]]) -> bytes:
    """`body` as JSON (ASCII only: every other character escaped), then `raw` appended."""
    text = json.dumps(body).encode("ascii")
    if not raw:
        return text
    members = b", ".join(json.dumps(key).encode("ascii") + b": " + value for key, value in raw)
    return text[:-1] + (b", " if body else b"") + members + b"}"


def body_of(case: Case, world: World) -> bytes | None:
    if case.content is not None:
        return case.content
    route = ROUTES.get(case.body_route or case.route)
    base = route.body if route else None
    if base is None:
        return None
    unique = hashlib.sha256(case.id.encode()).hexdigest()[:12]
    body = _fill({**base, **case.fields}, world, unique=unique)
    if case.pad_to is None:
        encoded = encode_body(body, case.raw)
        if case.encoding != "utf-8":
            encoded = encoded.decode("ascii").encode(case.encoding)
        return encoded
    unpadded = encode_body(body, [*case.raw, ("padding", b'""')])
    padding = b'"' + b"x" * (case.pad_to - len(unpadded)) + b'"'
    padded = encode_body(body, [*case.raw, ("padding", padding)])
    assert len(padded) == case.pad_to
    return padded


def send(api: Api, world: World, case: Case) -> Any:
    route = ROUTES.get(case.route)
    method = case.method or (route.method if route else "")
    path = (case.path or (route.path if route else "")).format(**asdict(world))
    bearer = case.auth
    if bearer is None:
        bearer = ADMIN_TOKEN if path.startswith("/_mock/") else api.key
    headers = {"Authorization": f"Bearer {bearer}"} if bearer else {}
    if case.namespace is not None:
        headers["X-Namespace"] = case.namespace
    body = body_of(case, world)
    content: Any = body
    if body is not None:
        headers["Content-Type"] = case.content_type
        if case.chunked:
            content = iter([body[i : i + 65536] for i in range(0, len(body), 65536)])
    return api.client.request(
        method,
        path,
        params=_fill(case.query, world),
        headers=headers,
        content=content,
        # A redirect is an answer too: show it, do not follow it.
        follow_redirects=False,
    )


# --- assertions ---------------------------------------------------------------------------------


def assert_error_envelope(response: Any, status: int) -> None:
    """The D6 envelope, with the type that goes with the status."""
    assert response.headers["content-type"].split(";")[0] == "application/json"
    body = response.json()
    assert set(body) == {"success", "status", "error"}, body
    assert body["success"] is False
    assert body["status"] == status
    error = body["error"]
    assert set(error) == {"type", "message", "code", "details"}, error
    assert error["type"] == ERROR_TYPES[status]
    assert isinstance(error["message"], str)
    assert error["message"]
    assert error["code"] is None or isinstance(error["code"], str)
    assert error["details"] is None or isinstance(error["details"], dict)
    if status == 422:
        assert error["details"] is not None
        problems = error["details"]["validation_errors"]
        assert problems, error
        for problem in problems:
            # A seed fixture's problems also name their place in the document (D29).
            assert set(problem) - {"path", "line"} == {"type", "location", "message"}, problem
            assert all(isinstance(part, str) for part in problem["location"]), problem


def assert_shows(actual: Any, expected: Any) -> None:
    """Every key of `expected` is in `actual` with the same value (recursively for objects)."""
    if isinstance(expected, dict) and expected:
        assert isinstance(actual, dict), actual
        for key, value in expected.items():
            assert key in actual, (key, actual)
            assert_shows(actual[key], value)
    else:
        assert actual == expected
        assert type(actual) is type(expected)


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_hostile_input_is_refused_cleanly(
    api: Api, database: Database, world: World, case: Case
) -> None:
    before = state(api.client, database)
    response = send(api, world, case)

    assert response.status_code < 500, f"{case.why}: {response.status_code} {response.text}"
    assert response.status_code == case.status, (
        f"expected {case.status} ({case.why}), got {response.status_code}: {response.text[:500]}"
    )
    if case.status >= 400:
        assert_error_envelope(response, case.status)
        assert state(api.client, database) == before, "a refused request changed the state"
    if case.shows is not None:
        assert_shows(response.json(), _fill(case.shows, world))


def _shape(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "{}", path)


def test_the_table_covers_every_route_that_takes_a_body_or_an_identifier(app: FastAPI) -> None:
    """A new route with a body or a path parameter must get rows here too."""
    covered = {(route.method, _shape(route.path)) for route in ROUTES.values()}
    covered |= {(method, _shape(path)) for method, path, _, _ in ID_ROUTES.values()}
    covered |= {(method, _shape(path)) for method, path, _, _ in ADMIN_ID_ROUTES.values()}
    served = {
        (method, _shape(route.path))
        for route in app.routes
        if isinstance(route, APIRoute) and route.path.startswith(("/v1/", "/_mock/"))
        for method in route.methods or ()
        # HEAD is the GET, answered without its body: the GET's rows cover it.
        if method in ("POST", "PATCH", "PUT")
        or ("{" in route.path and method != "HEAD")
        # The admin API's query parameters (the journal's filters) are inputs too.
        or (route.path.startswith("/_mock/") and route.dependant.query_params and method != "HEAD")
    }
    assert served - covered == set(), "routes without hostile-input rows"
    assert len({case.id for case in CASES}) == len(CASES), "two rows share a name"


# --- legal but awkward strings are stored verbatim ------------------------------------------------

LEGAL_STRINGS = [
    ("quotes", 'it\'s "quoted" `back`'),
    ("dot-dot", ".."),
    ("path traversal", "../../etc/passwd"),
    ("SQL tautology", "x' OR '1'='1"),
    ("SQL statement", "1; DROP TABLE buckets; --"),
    ("SQL in a quote", "Robert'); DROP TABLE sync_config;--"),
    ("LIKE wildcards", "100% _match_ *glob*"),
    ("backslashes", "C:\\media\\in \\u0000 \\n"),
    ("NUL", "a\x00b"),
    ("control characters", "tab\there\nnewline\r\x01\x1f\x7f"),
    ("accents, precomposed", "caf\u00e9"),
    ("accents, combining", "cafe\u0301"),
    ("scripts", "日本語 עברית العربية"),
    (
        "emoji, joined sequences",
        "\U0001f3ac\U0001f469\u200d\U0001f469\u200d\U0001f467 \U0001f3f3\ufe0f\u200d\U0001f308",
    ),
    ("astral plane", "\U0001d11e \U0001d54f"),
    ("bidi override", "abc\u202edef"),
    ("byte order mark", "\ufeffbom"),
    ("zero-width", "zero\u200bwidth"),
    ("padding spaces", "  padded  "),
    ("html", "<script>alert('x')</script>"),
    ("JSON text", '{"a": [1, "b"]}'),
]


# Each test below sends these with raw UTF-8 on the wire (httpx's json=) and reads them back
# from every answer that carries them. Here the database changes, on purpose.


def same_text(got: Any, sent: str) -> None:
    """`got` is the string that was sent, code point for code point and byte for byte."""
    assert isinstance(got, str), got
    assert got.encode("utf-8") == sent.encode("utf-8"), (got, sent)


def as_name(prefix: str, value: str) -> str:
    """A name holding the value: '/' cannot be in a name (README, "Names"), so it becomes
    U+2215, as awkward but routable."""
    return f"{prefix} {value.replace('/', chr(0x2215))}"


def path_segment(name: str) -> str:
    return quote(name, safe="")


@pytest.mark.parametrize(("label", "value"), LEGAL_STRINGS, ids=[s[0] for s in LEGAL_STRINGS])
def test_a_legal_awkward_string_is_stored_verbatim_in_a_bucket(
    api: Api, label: str, value: str
) -> None:
    name = as_name("bucket", value)
    created = api.ok(
        "POST",
        "/v1/buckets",
        json={
            "bucket_name": name,
            "description": value,
            "bucket_schema": {"properties": {}},
            "metadata": {value: value},
        },
    )
    bucket_id = created["bucket_id"]
    reads = [created, api.ok("GET", f"/v1/buckets/{bucket_id}")]
    if "/" not in name:
        # A name with a slash cannot be a path segment: %2F decodes before routing.
        reads.append(api.ok("GET", f"/v1/buckets/{path_segment(name)}"))
    listed = api.ok(
        "POST",
        "/v1/buckets/list",
        params={"limit": 1000},
        json={"search": name.removeprefix("bucket "), "case_sensitive": True},
    )
    found = [bucket for bucket in listed["results"] if bucket["bucket_id"] == bucket_id]
    assert len(found) == 1, "a search for the value finds the bucket"
    for bucket in [*reads, *found]:
        assert bucket["bucket_id"] == bucket_id
        same_text(bucket["bucket_name"], name)
        same_text(bucket["description"], value)
        (key,) = bucket["metadata"]
        same_text(key, value)
        same_text(bucket["metadata"][value], value)


@pytest.mark.parametrize(("label", "value"), LEGAL_STRINGS, ids=[s[0] for s in LEGAL_STRINGS])
def test_a_legal_awkward_string_is_stored_verbatim_in_a_namespace(
    api: Api, label: str, value: str
) -> None:
    name = as_name("ns", value)
    created = api.ok("POST", "/v1/namespaces", json={"namespace_name": name, "description": value})
    namespace_id = created["namespace_id"]
    reads = [created, api.ok("GET", f"/v1/namespaces/{namespace_id}")]
    if "/" not in name:  # see the bucket test
        reads.append(api.ok("GET", f"/v1/namespaces/{path_segment(name)}"))
    for namespace in reads:
        assert namespace["namespace_id"] == namespace_id
        same_text(namespace["namespace_name"], name)
        same_text(namespace["description"], value)
    # The name also selects the namespace for bucket routes (D8), through ?namespace=.
    in_namespace = api.client.get(
        "/v1/buckets",
        params={"namespace": name},
        headers={"Authorization": f"Bearer {api.key}"},
    )
    assert in_namespace.status_code == 200, in_namespace.text
    assert in_namespace.json()["results"] == []


@pytest.mark.parametrize(("label", "value"), LEGAL_STRINGS, ids=[s[0] for s in LEGAL_STRINGS])
def test_a_legal_awkward_string_is_stored_verbatim_in_a_connection(
    api: Api, label: str, value: str
) -> None:
    name = as_name("conn", value)
    created = api.ok(
        "POST",
        "/v1/organizations/connections",
        json={
            "name": name,
            "description": value,
            "provider_type": "s3",
            "provider_config": S3_CONFIG,
            "metadata": {value: value},
            "test_before_save": False,
        },
    )
    connection_id = created["connection_id"]
    reads = [created, api.ok("GET", f"/v1/organizations/connections/{connection_id}")]
    if "/" not in name:
        reads.append(api.ok("GET", f"/v1/organizations/connections/{path_segment(name)}"))
    for connection in reads:
        assert connection["connection_id"] == connection_id
        same_text(connection["name"], name)
        same_text(connection["description"], value)
        (key,) = connection["metadata"]
        same_text(key, value)
        same_text(connection["metadata"][value], value)


@pytest.mark.parametrize(("label", "value"), LEGAL_STRINGS, ids=[s[0] for s in LEGAL_STRINGS])
def test_a_legal_awkward_string_is_stored_verbatim_in_a_sync(
    api: Api, world: World, label: str, value: str
) -> None:
    created = api.ok(
        "POST",
        f"/v1/buckets/{world.bucket_id}/syncs",
        json={
            "connection_id": world.connection_id,
            "source_path": value,
            "description": value,
            "metadata": {value: value},
            "file_filters": {"include_patterns": [value], "exclude_patterns": [value]},
        },
    )
    path = f"/v1/buckets/{world.bucket_id}/syncs/{created['sync_config_id']}"
    for sync in (created, api.ok("GET", path)):
        same_text(sync["source_path"], value)
        same_text(sync["description"], value)
        (key,) = sync["metadata"]
        same_text(key, value)
        same_text(sync["metadata"][value], value)
        same_text(sync["file_filters"]["include_patterns"][0], value)
        same_text(sync["file_filters"]["exclude_patterns"][0], value)

    changes = {"description": f"patched {value}", "metadata": {"patched": value}}
    for sync in (api.ok("PATCH", path, json=changes), api.ok("GET", path)):
        same_text(sync["description"], f"patched {value}")
        assert list(sync["metadata"]) == ["patched"]
        same_text(sync["metadata"]["patched"], value)


def test_a_description_of_500_astral_characters_is_at_the_limit(api: Api, world: World) -> None:
    """The 500-character limit counts code points, not UTF-16 units or bytes."""
    value = "𝄞" * 500  # 1 000 UTF-16 units, 2 000 UTF-8 bytes
    path = f"/v1/buckets/{world.bucket_id}/syncs/{world.sync_config_id}"
    patched = api.ok("PATCH", path, json={"description": value})
    same_text(patched["description"], value)
    same_text(api.ok("GET", path)["description"], value)
    too_long = api.patch(path, json={"description": value + "𝄞"})
    assert too_long.status_code == 422, too_long.text
    same_text(api.ok("GET", path)["description"], value)
