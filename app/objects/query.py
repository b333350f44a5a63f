"""A list's ``filters``, ``sort`` and ``select`` (the SDK's ``ListObjectsRequest``), turned into
portable SQL over ``bucket_objects``, or into a 422 naming what is not supported.

Never silently ignored: a field, an operator or a value this server cannot apply is refused.

- ``filters`` is the vendor's logical tree: ``{"AND"|"OR"|"NOT": [node, ...]}`` (``NOT``: none
  of them holds), conditions ``{"field", "operator", "value"}`` (operator ``eq`` when absent),
  and ``{"<field>": value}`` shorthand for equality; the parts of one node are ANDed. Text is
  compared ignoring case unless the node says ``"case_sensitive": true`` (the vendor's
  default). Operators: eq, ne, gt, gte, lt, lte, in, nin, contains, starts_with, ends_with,
  exists, is_null.
- ``sort`` orders by one field (ties: newest first); ``select`` keeps the given dotted paths.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import TypeAdapter
from pydantic import ValidationError as PydanticValidationError

from app.db.database import to_column
from app.errors import ValidationError, validation_error
from app.schemas import UtcDatetime

# A record field (as the API shows it, dotted) → its column, and the kind of its values.
TEXT, INTEGER, TIME = "text", "integer", "time"


@dataclass(frozen=True, slots=True)
class Column:
    name: str
    kind: str


FIELDS: dict[str, Column] = {
    "object_id": Column("object_id", TEXT),
    "status": Column("status", TEXT),
    "created_at": Column("created_at", TIME),
    "updated_at": Column("updated_at", TIME),
    "blobs.property": Column("blob_property", TEXT),
    "blobs.type": Column("blob_type", TEXT),
    "blobs.details.filename": Column("filename", TEXT),
    "blobs.details.size_bytes": Column("size_bytes", INTEGER),
    "blobs.details.mime_type": Column("mime_type", TEXT),
    "blobs.details.hash": Column("content_hash", TEXT),
    "blobs.properties.source_bucket": Column("source_bucket", TEXT),
    "blobs.properties.source_key": Column("source_key", TEXT),
    "source_details.source_id": Column("sync_config_id", TEXT),
}
# Paths a ``select`` may name: every field of the record, whole or dotted.
SELECTABLE = frozenset(
    {
        "object_id",
        "bucket_id",
        "key_prefix",
        "blobs",
        "blobs.property",
        "blobs.type",
        "blobs.details",
        "blobs.details.filename",
        "blobs.details.size_bytes",
        "blobs.details.mime_type",
        "blobs.details.hash",
        "blobs.properties",
        "blobs.properties.source_bucket",
        "blobs.properties.source_key",
        "source_details",
        "source_details.type",
        "source_details.source_id",
        "status",
        "error",
        "created_at",
        "updated_at",
        "document_count",
    }
)
LOGICAL = ("AND", "OR", "NOT")
COMPARISONS = {"eq": "=", "ne": "<>", "gt": ">", "gte": ">=", "lt": "<", "lte": "<="}
SUPPORTED_OPERATORS = (
    *COMPARISONS,
    "in",
    "nin",
    "contains",
    "starts_with",
    "ends_with",
    "exists",
    "is_null",
)
_TIME = TypeAdapter(UtcDatetime)


def _refuse(
    location: Sequence[str | int], message: str, kind: str = "value_error"
) -> ValidationError:
    return validation_error([{"type": kind, "loc": ("body", *location), "msg": message}])


def _field_list() -> str:
    return ", ".join(FIELDS)


class _Compiler:
    def __init__(self) -> None:
        self.params: list[Any] = []

    def node(self, node: Any, where: tuple[str | int, ...], case_sensitive: bool) -> str:
        if not isinstance(node, dict):
            raise _refuse(where, "A filter node is an object")
        if "field" in node:
            return self.condition(node, where, case_sensitive)
        sensitive = node.get("case_sensitive", case_sensitive)
        if not isinstance(sensitive, bool):
            raise _refuse((*where, "case_sensitive"), "case_sensitive is a boolean")
        parts: list[str] = []
        for key, value in node.items():
            if key == "case_sensitive":
                continue
            if key in LOGICAL:
                if not isinstance(value, list) or not value:
                    raise _refuse((*where, key), f"{key} takes a non-empty list of filters")
                inner = [
                    self.node(item, (*where, key, index), sensitive)
                    for index, item in enumerate(value)
                ]
                if key == "AND":
                    parts.append("(" + " AND ".join(inner) + ")")
                elif key == "OR":
                    parts.append("(" + " OR ".join(inner) + ")")
                else:
                    parts.append("NOT (" + " OR ".join(inner) + ")")
            else:  # the shorthand {"field": value}
                condition = {"field": key, "operator": "eq", "value": value}
                parts.append(self.condition(condition, (*where, key), sensitive))
        return "(" + " AND ".join(parts) + ")" if parts else "1 = 1"

    def condition(
        self, node: dict[str, Any], where: tuple[str | int, ...], case_sensitive: bool
    ) -> str:
        unknown = set(node) - {"field", "operator", "value"}
        if unknown:
            raise _refuse(
                (*where, sorted(unknown)[0]),
                "A condition has only field, operator and value",
                "extra_forbidden",
            )
        name = node.get("field")
        column = FIELDS.get(name) if isinstance(name, str) else None
        if column is None:
            raise _refuse(
                (*where, "field"),
                f"Objects can be filtered by {_field_list()} only (synced objects carry no"
                " metadata)",
            )
        operator = node.get("operator") or "eq"
        if operator not in SUPPORTED_OPERATORS:
            raise _refuse(
                (*where, "operator"),
                f"Operator {str(operator)[:40]!r} is not supported here; use one of"
                f" {', '.join(SUPPORTED_OPERATORS)}",
            )
        value = node.get("value")
        at = (*where, "value")
        if operator in ("exists", "is_null"):
            if not isinstance(value, bool):
                raise _refuse(at, f"{operator} takes true or false")
            # Every column here is always set: it exists and is never null.
            present = value if operator == "exists" else not value
            return "1 = 1" if present else "1 = 0"
        text_match = column.kind == TEXT and not case_sensitive
        subject = f"lower({column.name})" if text_match else column.name
        if operator in ("in", "nin"):
            if not isinstance(value, list) or not value:
                raise _refuse(at, f"{operator} takes a non-empty list")
            marks = ", ".join(self.bind(column, item, at, text_match) for item in value)
            return f"{subject} {'NOT IN' if operator == 'nin' else 'IN'} ({marks})"
        if operator in ("contains", "starts_with", "ends_with"):
            if column.kind != TEXT or not isinstance(value, str):
                raise _refuse(at, f"{operator} compares text fields with a string")

            # One placeholder per use of the value: "?" is positional, in SQLite and PostgreSQL.
            def mark() -> str:
                return self.bind(column, value, at, text_match)

            if operator == "contains":
                return f"instr({subject}, {mark()}) > 0"
            if operator == "starts_with":
                return f"substr({subject}, 1, length({mark()})) = {mark()}"
            return (
                f"(length({subject}) >= length({mark()})"
                f" AND substr({subject}, length({subject}) - length({mark()}) + 1) = {mark()})"
            )
        return f"{subject} {COMPARISONS[operator]} {self.bind(column, value, at, text_match)}"

    def bind(self, column: Column, value: Any, at: tuple[str | int, ...], lower: bool) -> str:
        """A placeholder for ``value``, checked against the column's kind."""
        if column.kind == INTEGER:
            if isinstance(value, bool) or not isinstance(value, int):
                raise _refuse(at, f"{column.name} is compared with integers")
            self.params.append(value)
            return "?"
        if column.kind == TIME:
            try:
                if not isinstance(value, str):
                    raise ValueError(value)
                moment: datetime = _TIME.validate_python(value)
            except (ValueError, PydanticValidationError):
                raise _refuse(at, "Times are compared with RFC 3339 date-times") from None
            self.params.append(to_column(moment))
            return "?"
        if not isinstance(value, str):
            raise _refuse(at, "Text fields are compared with strings")
        self.params.append(value)
        return "lower(?)" if lower else "?"


def filter_clause(filters: dict[str, Any] | None) -> tuple[str, list[Any]]:
    """A ``where`` clause (and its parameters) for a list's ``filters``; 422 when they cannot
    be applied as written."""
    if not filters:
        return "1 = 1", []
    compiler = _Compiler()
    clause = compiler.node(filters, ("filters",), case_sensitive=False)
    return clause, compiler.params


def order_by(field: str | None, direction: str) -> str:
    """An ``ORDER BY`` for a list: the given field, then newest first, then by id."""
    newest = "created_at DESC, object_id DESC"
    if field is None:
        return newest
    column = FIELDS.get(field)
    if column is None:
        raise _refuse(("sort", "field"), f"Objects can be sorted by {_field_list()} only")
    return f"{column.name} {'DESC' if direction == 'desc' else 'ASC'}, {newest}"


def check_select(paths: list[str] | None) -> None:
    for index, path in enumerate(paths or ()):
        if path not in SELECTABLE:
            raise _refuse(
                ("select", index),
                "Not a field of an object (the README's Bucket objects section lists them)",
            )
