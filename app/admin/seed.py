"""Seed fixtures (CONTRACT.md D29): a document of organizations and everything they hold, loaded
all-or-nothing into the database, every problem reported with its place in the document.

The document nests as the resources do: organizations hold API keys, namespaces and storage
connections; namespaces hold buckets; buckets hold syncs; syncs hold the objects they made.
Each record is the API's own create request (the same pydantic model, so a fixture obeys
exactly the rules the API does), plus an optional explicit id (``namespace_id``, ``bucket_id``,
... checked for the kind's prefix and URL-safe characters) and a few fields a create cannot
set (a sync's ``status`` and ``is_active``; an object's file details).

Loading has two phases, and both report every problem they find, not only the first:

1. ``check_document``, without a database: the shape, each record's fields, duplicates within
   the document (names, ids, keys, source keys) and references within it (a sync's
   ``connection_id`` naming one of the organization's connections in the document);
2. ``apply_fixture``, in one write transaction: conflicts with what exists (a name or an id
   already taken, a key of another organization, a connection reference that is neither in
   the document nor in the database), then the inserts. Any problem rolls everything back.

An organization whose name exists already is added to (an explicit ``internal_id`` must then be
its id); a new one gets a ``default`` namespace unless the document declares one by that name.
Records are created in document order, each a microsecond after the previous one, so that
lists (newest first) show them in reverse document order, deterministically.

Places are paths such as ``organizations[0].namespaces[1].buckets[0].syncs[2].batch_size``;
a file's problems also carry a line number: YAML's nodes have marks, and a JSON file's lines
come from PyYAML's composer too (JSON is, for this purpose, YAML; where the composer cannot
read a JSON file the problems carry their path only).
"""

import hashlib
import json
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, Field, StrictBool, field_validator
from pydantic import ValidationError as PydanticValidationError

from app import identifiers
from app.accounts.service import DEFAULT_NAMESPACE, hash_key, key_prefix
from app.buckets.schemas import BucketCreateRequest, bucket_from_row
from app.buckets.service import new_bucket_row
from app.clock import utc_now
from app.connections.schemas import (
    CONFIG_MODELS,
    StorageConnectionCreateRequest,
    StorageProvider,
)
from app.connections.service import connection_from_row, new_connection_row
from app.db.database import Database
from app.engine.filters import guessed_mime_type
from app.engine.runner import _blob_property, _blob_type  # the engine's own defaults
from app.engine.sources import split_source_path
from app.errors import ApiError, ValidationError
from app.limits import MAX_PATH_LENGTH
from app.namespaces.schemas import CreateNamespaceRequest, namespace_from_row
from app.namespaces.service import new_namespace_row
from app.objects.schemas import object_from_row
from app.responses import render_record
from app.schemas import (
    INT64_MAX,
    Name,
    RequestModel,
    ResponseModel,
    TaskStatusEnum,
    UtcDatetime,
    parse_status,
)
from app.syncs.schemas import SyncCreateRequest
from app.syncs.service import UNSCHEDULED_STATUSES, sync_from_record

# At most this many records (organizations, keys, namespaces, connections, buckets, syncs and
# objects together) in one fixture: a load is one transaction, and must stay short.
MAX_SEED_RECORDS = 10_000
# A fixture file is read whole: at most this many bytes.
MAX_FIXTURE_BYTES = 16 * 1024 * 1024
# At most this many problems are reported (the rest are counted): enough for any fixture a
# person wrote, and an answer that stays small for one that a program got wrong throughout.
MAX_SEED_PROBLEMS = 1000

# --- the document ---------------------------------------------------------------------------

_ID_CHARACTERS = "[A-Za-z0-9_-]{1,64}"


def _id(prefix: str, kind: str) -> Any:
    return Field(
        strict=True,
        pattern=f"^{prefix}_{_ID_CHARACTERS}$",
        description=f"The {kind}'s id, chosen: '{prefix}_' and 1 to 64 letters, digits,"
        " '_' or '-'. Generated when absent.",
    )


OrganizationId = Annotated[str, _id(identifiers.ORGANIZATION, "organization")]
NamespaceId = Annotated[str, _id(identifiers.NAMESPACE, "namespace")]
ConnectionId = Annotated[str, _id(identifiers.CONNECTION, "connection")]
BucketId = Annotated[str, _id(identifiers.BUCKET, "bucket")]
SyncId = Annotated[str, _id(identifiers.SYNC, "sync configuration")]
ObjectId = Annotated[str, _id(identifiers.OBJECT, "object")]

_KEY_FORBIDDEN = re.compile(r"[\s\x00-\x1f\x7f]")


def _sendable_key(value: str) -> str:
    if _KEY_FORBIDDEN.search(value):
        raise ValueError(
            "an API key may not contain a space or a control character: no request could send"
            " it in 'Authorization: Bearer <key>'"
        )
    return value


ApiKeyText = Annotated[
    str, Field(strict=True, min_length=8, max_length=256), AfterValidator(_sendable_key)
]
OrganizationName = Annotated[str, Field(strict=True, min_length=1, max_length=100)]
NonEmptyName = Annotated[str, Field(strict=True, min_length=1, max_length=255)]
SourceKey = Annotated[str, Field(strict=True, min_length=1, max_length=MAX_PATH_LENGTH)]
ContentHash = Annotated[str, Field(strict=True, pattern="^sha256:[0-9a-f]{64}$")]


class SeedObject(RequestModel):
    """A bucket object as the sync that holds it in the fixture would have made it (D26)."""

    object_id: ObjectId | None = None
    source_key: SourceKey = Field(description="The file's key in the source bucket.")
    source_bucket: NonEmptyName | None = Field(
        default=None, description="Default: the bucket of the sync's source_path."
    )
    status: TaskStatusEnum = Field(
        default=TaskStatusEnum.PENDING, description="Default PENDING, as a run writes it."
    )
    filename: NonEmptyName | None = Field(default=None, description="Default: the key's last part.")
    size_bytes: Annotated[int, Field(strict=True, ge=0, le=INT64_MAX)] = 0
    mime_type: NonEmptyName | None = Field(
        default=None, description="Default: guessed from the key, else application/octet-stream."
    )
    content_hash: ContentHash | None = Field(
        default=None,
        description='"sha256:<64 hex>". Default: the SHA-256 of "<source_bucket>/<source_key>",'
        " so that no two seeded files look like duplicates.",
    )
    blob_property: Name | None = Field(
        default=None, description="Default: as a run chooses it (schema_mapping, else content)."
    )
    blob_type: Name | None = Field(
        default=None, description="Default: as a run chooses it (bucket schema, MIME type)."
    )
    source_etag: Name | None = None
    source_last_modified: UtcDatetime | None = None

    _parse_status = field_validator("status", mode="before")(parse_status)


class SeedSync(SyncCreateRequest):
    """A sync configuration: the create request (``connection_id`` names one of the
    organization's connections, in the fixture or already stored, by id or name), plus its
    state and the objects it made."""

    sync_config_id: SyncId | None = None
    status: TaskStatusEnum = TaskStatusEnum.PENDING
    is_active: StrictBool = True
    objects: list[SeedObject] = Field(default_factory=list)

    _parse_status = field_validator("status", mode="before")(parse_status)


class SeedBucket(BucketCreateRequest):
    bucket_id: BucketId | None = None
    syncs: list[SeedSync] = Field(default_factory=list)


class SeedNamespace(CreateNamespaceRequest):
    namespace_id: NamespaceId | None = None
    buckets: list[SeedBucket] = Field(default_factory=list)


class SeedConnection(StorageConnectionCreateRequest):
    connection_id: ConnectionId | None = None
    test_before_save: Literal[False] = Field(
        default=False, description="A fixture never reaches storage: only false."
    )


class SeedOrganization(RequestModel):
    """An organization: added to when one of this name exists, else created."""

    name: OrganizationName
    internal_id: OrganizationId | None = None
    api_keys: list[ApiKeyText] = Field(
        default_factory=list, description="Keys that authenticate as this organization's user."
    )
    namespaces: list[SeedNamespace] = Field(default_factory=list)
    connections: list[SeedConnection] = Field(default_factory=list)


class SeedDocument(RequestModel):
    """A seed fixture (D29): what ``mixpeek-mock seed`` and ``POST /_mock/seed`` load."""

    organizations: list[SeedOrganization]


# Which keys of a record hold its child records, and their model.
_CHILDREN: dict[type[BaseModel], dict[str, type[BaseModel]]] = {
    SeedDocument: {"organizations": SeedOrganization},
    SeedOrganization: {"namespaces": SeedNamespace, "connections": SeedConnection},
    SeedNamespace: {"buckets": SeedBucket},
    SeedBucket: {"syncs": SeedSync},
    SeedSync: {"objects": SeedObject},
}


class SeedCounts(ResponseModel):
    """How many records of each kind a load created."""

    organizations: int = 0
    api_keys: int = 0
    namespaces: int = 0
    connections: int = 0
    buckets: int = 0
    syncs: int = 0
    objects: int = 0

    def summary(self) -> str:
        """``1 organization, 2 API keys, ...``: the kinds created, in nesting order."""
        parts = []
        for name, count in self:
            if count:
                kind = "API key" if name == "api_keys" else name.removesuffix("s")
                parts.append(f"{count} {kind}{'' if count == 1 else 's'}")
        return ", ".join(parts) or "nothing"


class SeedResponse(ResponseModel):
    success: Literal[True] = True
    created: SeedCounts


# --- problems -------------------------------------------------------------------------------

Place = tuple[str | int, ...]


def format_place(place: Place) -> str:
    """``organizations[0].namespaces[1].namespace_name``; ``(document)`` for the whole."""
    text = ""
    for part in place:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "(document)"


@dataclass(frozen=True, slots=True)
class Problem:
    place: Place
    message: str
    type: str = "value_error"
    line: int | None = None

    def describe(self, source: str | None = None) -> str:
        where = format_place(self.place)
        if source is not None:
            where = f"{source}:{self.line}: {where}" if self.line else f"{source}: {where}"
        return f"{where}: {self.message}"


class SeedError(Exception):
    """The fixture cannot be loaded; nothing was applied. ``problems`` lists every reason."""

    def __init__(self, problems: list[Problem]) -> None:
        self.omitted = max(0, len(problems) - MAX_SEED_PROBLEMS)
        self.problems = problems[:MAX_SEED_PROBLEMS]
        super().__init__(f"{len(problems)} problem(s) in the fixture")

    def lines(self, source: str | None = None) -> list[str]:
        out = [problem.describe(source) for problem in self.problems]
        if self.omitted:
            out.append(f"... and {self.omitted} more problems")
        return out

    def as_api_error(self) -> ValidationError:
        """The 422 of ``POST /_mock/seed``: every problem, located in the body."""
        count = len(self.problems) + self.omitted
        details: dict[str, Any] = {
            "validation_errors": [
                {
                    "type": problem.type,
                    # Strings, as every other 422 of the API (D6): a list index too.
                    "location": ["body", *(str(part) for part in problem.place)],
                    "message": problem.message,
                    "path": format_place(problem.place),
                }
                for problem in self.problems
            ]
        }
        if self.omitted:
            details["omitted_errors"] = self.omitted
        first = self.problems[0].describe() if self.problems else ""
        return ValidationError(
            f"The fixture has {count} problem(s); nothing was loaded. First: {first}"[:300],
            details=details,
        )


class _Lines:
    """Line numbers of a document's places, where the parser told them."""

    def __init__(self, lines: dict[Place, int] | None = None) -> None:
        self._lines = lines or {}

    def of(self, place: Place) -> int | None:
        """The line of ``place``, else of its nearest ancestor that has one (a missing field is
        reported at its record)."""
        while True:
            line = self._lines.get(place)
            if line is not None or not place:
                return line
            place = place[:-1]


# --- reading files --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ParsedFixture:
    data: Any
    lines: _Lines


def _yaml_loader() -> Any:
    import yaml

    class Loader(yaml.SafeLoader):  # type: ignore[misc]
        """YAML as JSON sees it: timestamps stay strings (the models parse them as the API
        does), and every other implicit type is kept."""

    Loader.yaml_implicit_resolvers = {
        first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
        for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }
    return Loader


def _node_lines(
    node: Any, place: Place, out: dict[Place, int], problems: list[Problem], seen_nodes: set[int]
) -> None:
    """Record the line of every place under ``node``; report duplicate keys, and aliases
    (``*name``): a node met twice could make a small file a huge document (the "billion
    laughs"), and a fixture has no need of them."""
    import yaml

    if id(node) in seen_nodes:
        # (the node's own mark is the anchor's: the line is that of the place it is used at)
        line = _Lines(out).of(place)
        problems.append(Problem(place, "YAML aliases (*name) are not supported", "alias", line))
        return
    seen_nodes.add(id(node))
    out.setdefault(place, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key, value in node.value:
            if not isinstance(key, yaml.ScalarNode):
                continue  # reported as a key that is not a string, from the data
            if key.value in seen:
                problems.append(
                    Problem(
                        (*place, key.value),
                        "the key appears twice in this mapping",
                        "duplicate_key",
                        key.start_mark.line + 1,
                    )
                )
            seen.add(key.value)
            out.setdefault((*place, key.value), key.start_mark.line + 1)
            _node_lines(value, (*place, key.value), out, problems, seen_nodes)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _node_lines(item, (*place, index), out, problems, seen_nodes)


def parse_fixture_text(text: str, *, json_only: bool = False) -> ParsedFixture:
    """Parse a fixture's text (JSON, or YAML unless ``json_only``); a ``SeedError`` with the
    line of a syntax error."""
    try:
        if json_only or text.lstrip().startswith(("{", "[")):
            return _parse_json(text)
        return _parse_yaml(text)
    except RecursionError:
        raise SeedError([Problem((), "the document is nested too deeply", "too_deep")]) from None


def _parse_json(text: str) -> ParsedFixture:
    import yaml

    try:
        data = json.loads(text, parse_constant=_no_constant)
    except json.JSONDecodeError as exc:
        raise SeedError(
            [Problem((), f"not valid JSON: {exc.msg}", "json_invalid", exc.lineno)]
        ) from None
    except ValueError as exc:
        raise SeedError([Problem((), str(exc), "json_invalid")]) from None
    problems: list[Problem] = []
    lines: dict[Place, int] = {}
    try:
        node = yaml.compose(text, Loader=_yaml_loader())
    except yaml.YAMLError:
        node = None  # lines are a convenience: the path alone still says where
    if node is not None:
        _node_lines(node, (), lines, problems, set())
    # JSON keeps the last of two equal keys silently; a fixture says so.
    duplicates = [p for p in problems if p.type == "duplicate_key"]
    if duplicates:
        raise SeedError(duplicates)
    return ParsedFixture(data=data, lines=_Lines(lines))


def _parse_yaml(text: str) -> ParsedFixture:
    import yaml

    problems: list[Problem] = []
    lines: dict[Place, int] = {}
    loader = _yaml_loader()(text)
    try:
        node = loader.get_single_node()
        if node is not None:
            # Walked before it is built: an alias is refused before it could multiply.
            _node_lines(node, (), lines, problems, set())
            if problems:
                raise SeedError(problems)
        data = None if node is None else loader.construct_document(node)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        reason = getattr(exc, "problem", None) or str(exc)
        line = None if mark is None else mark.line + 1
        raise SeedError([Problem((), f"not valid YAML: {reason}", "yaml_invalid", line)]) from None
    finally:
        loader.dispose()
    return ParsedFixture(data=data, lines=_Lines(lines))


def _no_constant(name: str) -> Any:
    raise ValueError(f"JSON has no {name}: numbers must be finite")


def read_fixture_file(path: str) -> ParsedFixture:
    """Read and parse a fixture file (``-`` is standard input); a ``SeedError`` otherwise."""
    import sys

    try:
        if path == "-":
            raw = sys.stdin.buffer.read(MAX_FIXTURE_BYTES + 1)
        else:
            with Path(path).open("rb") as file:
                raw = file.read(MAX_FIXTURE_BYTES + 1)
    except OSError as exc:
        raise SeedError(
            [Problem((), f"cannot read the file: {exc.strerror or exc}", "io")]
        ) from None
    if len(raw) > MAX_FIXTURE_BYTES:
        raise SeedError(
            [Problem((), f"the file is larger than {MAX_FIXTURE_BYTES} bytes", "too_large")]
        )
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise SeedError(
            [Problem((), f"not UTF-8 text ({exc.reason} at byte {exc.start})", "encoding")]
        ) from None
    return parse_fixture_text(text, json_only=path.endswith(".json"))


# --- phase 1: the document alone ------------------------------------------------------------


@dataclass(slots=True)
class Node:
    """A record of the document: its validated model (None when its own fields had problems),
    its place and its child records."""

    record: Any
    place: Place
    children: dict[str, list["Node"]] = field(default_factory=dict)

    def all(self, name: str) -> list["Node"]:
        """Every child record under ``name``, valid or not."""
        return self.children.get(name, [])

    def each(self, name: str) -> Iterator["Node"]:
        """The valid child records under ``name``."""
        return (child for child in self.children.get(name, ()) if child.record is not None)


@dataclass(slots=True)
class Fixture:
    """A document that passed the first phase: ready to apply."""

    root: Node
    lines: _Lines
    records: int


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    return {dict: "an object", list: "a list", str: "a string", bool: "a boolean"}.get(
        type(value), "a number" if isinstance(value, int | float) else type(value).__name__
    )


def _count_records(data: Any) -> int:
    """How many records ``data`` holds, counted on its shape before anything is validated."""
    total = 0
    pending: list[tuple[type[BaseModel], Any]] = [(SeedDocument, data)]
    while pending:
        model, record = pending.pop()
        if not isinstance(record, dict):
            continue
        if model is SeedOrganization and isinstance(record.get("api_keys"), list):
            total += len(record["api_keys"])
        for name, child in _CHILDREN.get(model, {}).items():
            items = record.get(name)
            if isinstance(items, list):
                total += len(items)
                if total > MAX_SEED_RECORDS:
                    return total
                pending += [(child, item) for item in items]
    return total


def _json_problems(value: Any, place: Place, out: list[Problem]) -> None:
    """What a fixture holds must be JSON: YAML could give other keys and values."""
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                out.append(Problem(place, f"the key {key!r} is not a string", "key_type"))
            else:
                _json_problems(item, (*place, key), out)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _json_problems(item, (*place, index), out)
    elif isinstance(value, float) and not math.isfinite(value):
        out.append(Problem(place, "numbers must be finite", "finite_number"))
    elif value is not None and not isinstance(value, str | int | float):
        out.append(Problem(place, f"{type(value).__name__} is not a JSON value", "json_type"))


def _pydantic_problems(exc: PydanticValidationError, data: Any, place: Place) -> list[Problem]:
    """pydantic's errors at their places in the document. Its locations also name the branch
    of a union (``credentials.access_key.access_key_id``, ``access_key`` being the tag):
    parts that are no key of the data at that point are left out, so that the path is one
    the document has (or would have, for a missing field)."""
    problems = []
    for error in exc.errors(include_url=False):
        path: list[str | int] = []
        value = data
        last = len(error["loc"]) - 1
        for index, part in enumerate(error["loc"]):
            is_branch = isinstance(value, dict) and isinstance(part, str) and part not in value
            if is_branch and index < last:  # the last part may be a field that is missing
                continue
            path.append(part)
            if isinstance(value, dict):
                value = value.get(part)
            elif isinstance(value, list) and isinstance(part, int) and 0 <= part < len(value):
                value = value[part]
            else:
                value = None
        message = str(error["msg"]).removeprefix("Value error, ")
        problems.append(Problem((*place, *path), message, str(error["type"])))
    return problems


def _check_record(model: type[BaseModel], raw: Any, place: Place, problems: list[Problem]) -> Node:
    if not isinstance(raw, dict):
        problems.append(Problem(place, f"must be an object, not {_kind(raw)}", "model_type"))
        return Node(None, place)
    # Child records are checked one by one below; the record itself sees an empty list in
    # their place (or what is there when it is no list, for the model to name its type).
    own = dict(raw)
    child_values = {name: own.get(name) for name in _CHILDREN.get(model, {})}
    for name, value in child_values.items():
        if isinstance(value, list):
            own[name] = []
    try:
        record: Any = model.model_validate(own)
    except PydanticValidationError as exc:
        record = None
        problems += _pydantic_problems(exc, own, place)
    node = Node(record, place)
    for name, child_model in _CHILDREN.get(model, {}).items():
        value = child_values[name]
        if not isinstance(value, list):
            node.children[name] = []
            continue
        node.children[name] = [
            _check_record(child_model, item, (*place, name, index), problems)
            for index, item in enumerate(value)
        ]
    return node


class _Unique:
    """Reports a second use of a value within one scope."""

    def __init__(self, what: str) -> None:
        self.what = what
        self.first: dict[Any, Place] = {}

    def check(
        self, value: Any, place: Place, problems: list[Problem], shown: str | None = None
    ) -> None:
        if value is None:
            return
        earlier = self.first.setdefault(value, place)
        if earlier != place:
            label = shown if shown is not None else repr(value)
            problems.append(
                Problem(
                    place,
                    f"{self.what} {label} is used twice in the fixture (first at"
                    f" {format_place(earlier)})",
                    "duplicate",
                )
            )


def check_document(data: Any, lines: _Lines | None = None) -> Fixture:
    """Phase 1: the document's shape, fields, duplicates and internal references; a
    ``SeedError`` listing every problem."""
    lines = lines or _Lines()
    records = _count_records(data)
    if records > MAX_SEED_RECORDS:
        raise _located(
            [
                Problem(
                    (),
                    f"the fixture holds more than {MAX_SEED_RECORDS} records; load it in parts",
                    "too_many_records",
                )
            ],
            lines,
        )
    problems: list[Problem] = []
    _json_problems(data, (), problems)
    if problems:
        raise _located(problems, lines)
    root = _check_record(SeedDocument, data, (), problems)
    # Duplicates are looked for among the records that are valid themselves, whatever their
    # parents' fields: a bad key of an organization hides none of its buckets' problems.
    ids = _Unique("the id")
    keys = _Unique("the API key")
    org_names = _Unique("the organization name")
    for org in root.all("organizations"):
        if (o := org.record) is not None:
            org_names.check(o.name, (*org.place, "name"), problems)
            ids.check(o.internal_id, (*org.place, "internal_id"), problems)
            for index, key in enumerate(o.api_keys):
                keys.check(key, (*org.place, "api_keys", index), problems, shown="(this key)")
        connection_names = _Unique("the connection name")
        for connection in org.each("connections"):
            c: SeedConnection = connection.record
            connection_names.check(c.name, (*connection.place, "name"), problems)
            ids.check(c.connection_id, (*connection.place, "connection_id"), problems)
            connection.record = _checked_config(c, connection.place, problems)
        namespace_names = _Unique("the namespace name")
        for namespace in org.all("namespaces"):
            if (n := namespace.record) is not None:
                namespace_names.check(
                    n.namespace_name, (*namespace.place, "namespace_name"), problems
                )
                ids.check(n.namespace_id, (*namespace.place, "namespace_id"), problems)
            bucket_names = _Unique("the bucket name")
            for bucket in namespace.all("buckets"):
                if (b := bucket.record) is not None:
                    bucket_names.check(b.bucket_name, (*bucket.place, "bucket_name"), problems)
                    ids.check(b.bucket_id, (*bucket.place, "bucket_id"), problems)
                for sync in bucket.all("syncs"):
                    if sync.record is not None:
                        ids.check(
                            sync.record.sync_config_id, (*sync.place, "sync_config_id"), problems
                        )
                    source_keys = _Unique("the source key")
                    for obj in sync.each("objects"):
                        ob: SeedObject = obj.record
                        ids.check(ob.object_id, (*obj.place, "object_id"), problems)
                        source_keys.check(ob.source_key, (*obj.place, "source_key"), problems)
    if problems:
        raise _located(problems, lines)
    return Fixture(root=root, lines=lines, records=records)


def _checked_config(
    connection: SeedConnection, place: Place, problems: list[Problem]
) -> SeedConnection | None:
    """The provider configuration checked (and defaulted) as a create checks it."""
    model = CONFIG_MODELS.get(StorageProvider(connection.provider_type))
    if model is None:
        return connection
    try:
        config = model.model_validate(connection.provider_config).model_dump(mode="json")
    except PydanticValidationError as exc:
        problems += _pydantic_problems(exc, connection.provider_config, (*place, "provider_config"))
        return None
    return connection.model_copy(update={"provider_config": config})


def _located(problems: list[Problem], lines: _Lines) -> SeedError:
    """The error for ``problems``, each with its line when the parser told it, in the order of
    the lines (a stable sort: without lines, in the order found)."""
    located = [
        p if p.line is not None else Problem(p.place, p.message, p.type, lines.of(p.place))
        for p in problems
    ]
    return SeedError(sorted(located, key=lambda p: p.line or 0))


# --- phase 2: against the database, then the inserts ----------------------------------------


class _Ticks:
    """Creation times: one microsecond apart, in document order."""

    def __init__(self) -> None:
        self.now = utc_now()

    def next(self) -> datetime:
        self.now += timedelta(microseconds=1)
        return self.now


def _taken(db: Database, table: str, column: str, value: str | None) -> bool:
    if value is None:
        return False
    return db.scalar(f'SELECT 1 FROM "{table}" WHERE "{column}" = ?', (value,)) is not None


@dataclass(slots=True)
class _Org:
    """An organization as the load sees it: stored already, or to be created."""

    node: Node
    internal_id: str | None  # None: new, its id is drawn when it is created
    user_id: str | None
    existing: bool
    # Stored namespaces the fixture adds to (named with nothing else set): name -> id.
    namespaces_to_fill: dict[str, str] = field(default_factory=dict)


def _conflicts(db: Database, fixture: Fixture) -> tuple[list[Problem], list[_Org]]:
    """Every conflict with the stored records; the organizations as found."""
    problems: list[Problem] = []
    orgs: list[_Org] = []
    for org in fixture.root.each("organizations"):
        o: SeedOrganization = org.record
        row = db.one(
            "SELECT o.internal_id, u.user_id FROM organizations o"
            " JOIN users u ON u.internal_id = o.internal_id WHERE o.name = ?"
            " ORDER BY u.created_at LIMIT 1",
            (o.name,),
        )
        found = _Org(
            org,
            None if row is None else row["internal_id"],
            None if row is None else row["user_id"],
            existing=row is not None,
        )
        orgs.append(found)
        if row is not None and o.internal_id not in (None, row["internal_id"]):
            problems.append(
                Problem(
                    (*org.place, "internal_id"),
                    f"the organization {o.name!r} exists with another id ({row['internal_id']})",
                    "conflict",
                )
            )
        elif row is None and _taken(db, "organizations", "internal_id", o.internal_id):
            problems.append(_id_taken(org.place, "internal_id", "an organization"))
        for index, key in enumerate(o.api_keys):
            owner = db.scalar(
                "SELECT internal_id FROM api_keys WHERE key_hash = ?", (hash_key(key),)
            )
            if owner is not None and owner != found.internal_id:
                problems.append(
                    Problem(
                        (*org.place, "api_keys", index),
                        "this API key already belongs to another organization",
                        "conflict",
                    )
                )
        for namespace in org.each("namespaces"):
            n: SeedNamespace = namespace.record
            stored_id = found.existing and db.scalar(
                "SELECT namespace_id FROM namespaces WHERE internal_id = ? AND namespace_name = ?",
                (found.internal_id, n.namespace_name),
            )
            if stored_id and n.model_fields_set <= {"namespace_name", "buckets"}:
                # Only named: the fixture adds its buckets to the stored namespace (the usual
                # case: buckets in the `default` namespace every organization has).
                found.namespaces_to_fill[n.namespace_name] = stored_id
            elif stored_id:
                problems.append(
                    Problem(
                        (*namespace.place, "namespace_name"),
                        f"the organization {o.name!r} has a namespace named"
                        f" {n.namespace_name!r} already (to add buckets to it, give its"
                        " name and buckets only)",
                        "conflict",
                    )
                )
            if _taken(db, "namespaces", "namespace_id", n.namespace_id):
                problems.append(_id_taken(namespace.place, "namespace_id", "a namespace"))
            for bucket in namespace.each("buckets"):
                b: SeedBucket = bucket.record
                if _taken(db, "buckets", "bucket_id", b.bucket_id):
                    problems.append(_id_taken(bucket.place, "bucket_id", "a bucket"))
                for sync in bucket.each("syncs"):
                    s: SeedSync = sync.record
                    if _taken(db, "sync_config", "sync_config_id", s.sync_config_id):
                        problems.append(_id_taken(sync.place, "sync_config_id", "a sync"))
                    if _connection_in_fixture(org, s.connection_id) is None and (
                        not found.existing
                        or _stored_connection(db, found.internal_id, s.connection_id) is None
                    ):
                        problems.append(
                            Problem(
                                (*sync.place, "connection_id"),
                                f"no connection {s.connection_id!r} in the organization"
                                f" {o.name!r}, in the fixture or stored",
                                "not_found",
                            )
                        )
                    for obj in sync.each("objects"):
                        if _taken(db, "bucket_objects", "object_id", obj.record.object_id):
                            problems.append(_id_taken(obj.place, "object_id", "an object"))
        for connection in org.each("connections"):
            c: SeedConnection = connection.record
            if found.existing and db.scalar(
                "SELECT 1 FROM storage_connections WHERE internal_id = ? AND name = ?",
                (found.internal_id, c.name),
            ):
                problems.append(
                    Problem(
                        (*connection.place, "name"),
                        f"the organization {o.name!r} has a connection named {c.name!r} already",
                        "conflict",
                    )
                )
            if _taken(db, "storage_connections", "connection_id", c.connection_id):
                problems.append(_id_taken(connection.place, "connection_id", "a connection"))
    return problems, orgs


def _id_taken(place: Place, column: str, kind: str) -> Problem:
    return Problem((*place, column), f"the id is taken by {kind} already", "conflict")


def _connection_in_fixture(org: Node, reference: str) -> Node | None:
    """The fixture's connection of ``org`` with this id, else this name (an id wins, as in the
    API)."""
    connections = list(org.each("connections"))
    for connection in connections:
        if connection.record.connection_id == reference:
            return connection
    for connection in connections:
        if connection.record.name == reference:
            return connection
    return None


def _stored_connection(db: Database, internal_id: str | None, reference: str) -> Any:
    return db.one(
        "SELECT connection_id, provider_type FROM storage_connections"
        " WHERE internal_id = ? AND (connection_id = ? OR name = ?)"
        " ORDER BY connection_id = ? DESC LIMIT 1",
        (internal_id, reference, reference, reference),
    )


class _Writer:
    """The inserts of one load, inside its transaction; problems of records that could not be
    served (larger than a record may be) are collected, and roll the whole load back."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.ticks = _Ticks()
        self.counts = SeedCounts()
        self.problems: list[Problem] = []

    def servable(self, place: Place, render: Any) -> None:
        try:
            render_record(render())
        except ApiError as exc:
            self.problems.append(Problem(place, exc.message, "record_too_large"))

    def organization(self, org: _Org) -> None:
        o: SeedOrganization = org.node.record
        if not org.existing:
            now = self.ticks.next()
            org.internal_id = o.internal_id or identifiers.new_id(identifiers.ORGANIZATION)
            org.user_id = identifiers.new_id(identifiers.USER)
            self.db.insert(
                "organizations", {"internal_id": org.internal_id, "name": o.name, "created_at": now}
            )
            self.db.insert(
                "users",
                {
                    "user_id": org.user_id,
                    "internal_id": org.internal_id,
                    "email": f"{o.name}@mixpeek-mock.local",
                    "created_at": now,
                },
            )
            self.counts.organizations += 1
            declared = {n.record.namespace_name for n in org.node.each("namespaces")}
            if DEFAULT_NAMESPACE not in declared:
                self._insert_namespace(org, SeedNamespace(namespace_name=DEFAULT_NAMESPACE), None)
        for key in o.api_keys:
            self._key(org, key)
        for connection in org.node.each("connections"):
            self._connection(org, connection)
        for namespace in org.node.each("namespaces"):
            namespace_id = org.namespaces_to_fill.get(
                namespace.record.namespace_name
            ) or self._insert_namespace(org, namespace.record, namespace.place)
            for bucket in namespace.each("buckets"):
                self._bucket(org, namespace_id, bucket)

    def _key(self, org: _Org, key: str) -> None:
        key_hash = hash_key(key)
        revoked = self.db.one("SELECT revoked_at FROM api_keys WHERE key_hash = ?", (key_hash,))
        if revoked is not None:  # this organization's already (the conflicts were checked)
            if revoked["revoked_at"] is not None:
                self.db.execute(
                    "UPDATE api_keys SET revoked_at = NULL WHERE key_hash = ?", (key_hash,)
                )
                self.counts.api_keys += 1
            return
        self.db.insert(
            "api_keys",
            {
                "key_hash": key_hash,
                "key_prefix": key_prefix(key),
                "user_id": org.user_id,
                "internal_id": org.internal_id,
                "created_at": self.ticks.next(),
            },
        )
        self.counts.api_keys += 1

    def _insert_namespace(self, org: _Org, n: SeedNamespace, place: Place | None) -> str:
        fields = n.model_dump(mode="json", exclude={"namespace_id", "buckets"})
        assert org.internal_id is not None  # the organization was made first
        values = new_namespace_row(
            namespace_id=n.namespace_id or identifiers.new_id(identifiers.NAMESPACE),
            internal_id=org.internal_id,
            fields=fields,
            now=self.ticks.next(),
        )
        self.db.insert("namespaces", values)
        if place is not None:
            self.servable(place, lambda: namespace_from_row(values, bucket_count=0))
        self.counts.namespaces += 1
        namespace_id: str = values["namespace_id"]
        return namespace_id

    def _connection(self, org: _Org, node: Node) -> None:
        c: SeedConnection = node.record
        fields = c.model_dump(mode="json", exclude={"connection_id", "test_before_save"})
        assert org.internal_id is not None  # the organization was made first
        assert org.user_id is not None
        values = new_connection_row(
            connection_id=c.connection_id or identifiers.new_id(identifiers.CONNECTION),
            internal_id=org.internal_id,
            user_id=org.user_id,
            fields=fields,
            now=self.ticks.next(),
        )
        self.db.insert("storage_connections", values)
        node.record = c.model_copy(update={"connection_id": values["connection_id"]})
        self.servable(node.place, lambda: connection_from_row(values))
        self.counts.connections += 1

    def _bucket(self, org: _Org, namespace_id: str, node: Node) -> None:
        b: SeedBucket = node.record
        fields = b.model_dump(mode="json", exclude_none=True, exclude={"bucket_id", "syncs"})
        assert org.internal_id is not None  # the organization was made first
        values = new_bucket_row(
            bucket_id=b.bucket_id or identifiers.new_id(identifiers.BUCKET),
            namespace_id=namespace_id,
            internal_id=org.internal_id,
            fields=fields,
            now=self.ticks.next(),
        )
        self.db.insert("buckets", values)
        self.servable(node.place, lambda: bucket_from_row(values))
        self.counts.buckets += 1
        for sync in node.each("syncs"):
            self._sync(org, values, sync)

    def _sync(self, org: _Org, bucket: dict[str, Any], node: Node) -> None:
        s: SeedSync = node.record
        in_fixture = _connection_in_fixture(org.node, s.connection_id)
        if in_fixture is not None:
            connection_id = in_fixture.record.connection_id
            provider_type = in_fixture.record.provider_type
        else:
            stored = _stored_connection(self.db, org.internal_id, s.connection_id)
            connection_id, provider_type = stored["connection_id"], stored["provider_type"]
        fields = s.model_dump(
            exclude={"sync_config_id", "connection_id", "status", "is_active", "objects"}
        )
        now = self.ticks.next()
        paused = s.status == TaskStatusEnum.SUSPENDED
        scheduled = s.is_active and not paused and s.status not in UNSCHEDULED_STATUSES
        record: dict[str, Any] = {
            "sync_config_id": s.sync_config_id or identifiers.new_id(identifiers.SYNC),
            "bucket_id": bucket["bucket_id"],
            "connection_id": connection_id,
            "namespace_id": bucket["namespace_id"],
            "internal_id": org.internal_id,
            "source_type": str(provider_type),
            **fields,
            "metadata": fields.get("metadata") or {},
            "status": s.status,
            "is_active": s.is_active,
            "paused": paused,
            "paused_at": now if paused else None,
            "pause_reason": None,
            "paused_by_user_id": org.user_id if paused else None,
            "locked_by_worker_id": None,
            "locked_at": None,
            "lock_expires_at": None,
            "pending_full_sync": False,
            "sync_run_counter": 0,
            "total_files_discovered": 0,
            "total_files_synced": 0,
            "total_files_failed": 0,
            "total_bytes_synced": 0,
            "consecutive_failures": 0,
            "last_error": None,
            "last_sync_at": None,
            "next_sync_at": now if scheduled else None,
            "created_by_user_id": org.user_id,
            "created_at": now,
            "updated_at": now,
        }
        self.db.insert("sync_config", record)
        self.servable(node.place, lambda: sync_from_record(dict(record)))
        self.counts.syncs += 1
        for obj in node.each("objects"):
            self._object(bucket, record, obj)

    def _object(self, bucket: dict[str, Any], sync: dict[str, Any], node: Node) -> None:
        ob: SeedObject = node.record
        source_bucket = ob.source_bucket or split_source_path(sync["source_path"])[0]
        mime_type = ob.mime_type or guessed_mime_type(ob.source_key) or "application/octet-stream"
        prop = ob.blob_property or _blob_property(sync["schema_mapping"])
        digest = hashlib.sha256(f"{source_bucket}/{ob.source_key}".encode()).hexdigest()
        now = self.ticks.next()
        values = {
            "object_id": ob.object_id or identifiers.new_id(identifiers.OBJECT),
            "bucket_id": bucket["bucket_id"],
            "namespace_id": bucket["namespace_id"],
            "internal_id": bucket["internal_id"],
            "sync_config_id": sync["sync_config_id"],
            "source_bucket": source_bucket,
            "source_key": ob.source_key,
            "status": ob.status,
            "blob_property": prop,
            "blob_type": ob.blob_type or _blob_type(bucket["bucket_schema"], prop, mime_type),
            "filename": ob.filename or ob.source_key.rsplit("/", 1)[-1],
            "size_bytes": ob.size_bytes,
            "mime_type": mime_type,
            "content_hash": ob.content_hash or f"sha256:{digest}",
            "source_etag": ob.source_etag,
            "source_last_modified": ob.source_last_modified,
            "created_at": now,
            "updated_at": now,
        }
        self.db.insert("bucket_objects", values)
        self.servable(node.place, lambda: object_from_row(values))
        self.counts.objects += 1


def apply_fixture(db: Database, fixture: Fixture) -> SeedCounts:
    """Phase 2: in one transaction, every conflict with the stored records, then the inserts;
    a ``SeedError`` listing every problem, and nothing applied, otherwise."""
    with db.transaction():
        problems, orgs = _conflicts(db, fixture)
        if problems:
            raise _located(problems, fixture.lines)
        writer = _Writer(db)
        for org in orgs:
            writer.organization(org)
        if writer.problems:
            raise _located(writer.problems, fixture.lines)
    return writer.counts


def load_document(db: Database, data: Any, lines: _Lines | None = None) -> SeedCounts:
    """Both phases: check ``data`` and apply it."""
    return apply_fixture(db, check_document(data, lines))


def load_file(db: Database, path: str) -> SeedCounts:
    parsed = read_fixture_file(path)
    return load_document(db, parsed.data, parsed.lines)
