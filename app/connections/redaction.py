"""What a storage connection's configuration may show on read (CONTRACT.md D14).

Redaction works by allow-list, per provider: ``DISPLAYABLE`` names, for each provider type, the
keys of its configuration that hold no secret, and the shape each value must have. Everything
else is left out: an unknown key, a key whose value has another shape than the table says (an
object where a string belongs), an item of a list that is not what the list holds. Guessing
secrets by their names (``password``, ``token``) missed ``account_key``, ``dsn``, ``passwd`` and
any secret inside a list; a key nobody thought of is now hidden by default.

``credentials`` is reduced to ``{"type": ...}``, and the type itself is shown only when it is
one of the provider's credential kinds (a free-form string there could be anything).

Every string that is kept and holds ``://`` is read as a URL and shown without its userinfo
(``user:pass@``), query string and fragment: a query can carry a token (an Azure SAS
signature, ``?api_key=``, a presigned S3 URL), and nothing a reader needs to recognise a
connection lives there. A password may hold an unencoded ``/``, ``?`` or ``#``, which moves the
``@`` out of where a parser would look for it; so everything up to the last ``@`` after the
scheme counts as userinfo. A URL with an ``@`` in its path then shows less than it could, never
more.

The displayable keys follow the official SDK's provider configuration models (``mixpeek`` 1.3,
``mixpeek/models/*_config.py`` and ``*_credentials.py``). Supabase has no model there; its keys
come from the vendor's description of the provider (an S3-compatible store found by its
project reference). Free-form parts of a configuration, such as the HTTP API provider's
``request_body``, cannot be allow-listed and are never shown.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from .schemas import StorageProvider


class _Scalar:
    """A string, number, boolean or null; never an object or a list."""

    def __repr__(self) -> str:
        return "SCALAR"


@dataclass(frozen=True, slots=True)
class ListOf:
    """A list whose items have the shape ``item``; items of another shape are left out."""

    item: "Shape"


SCALAR: Final = _Scalar()
SCALARS: Final = ListOf(SCALAR)
# An object shape is a mapping of its displayable keys to their shapes.
Shape = _Scalar | ListOf | Mapping[str, "Shape"]


@dataclass(frozen=True, slots=True)
class Displayable:
    credential_types: frozenset[str]
    fields: Mapping[str, Shape]


# The allow-list, one line per provider type: its kinds of credentials (the only values
# ``credentials.type`` may show), then its displayable keys. ``name[]`` is a list of scalars,
# ``name[].key`` a list of objects showing ``key``; every other name holds a scalar.
# ``provider_type`` is displayable everywhere. What is not here is not shown.
_TABLE: Final[Mapping[StorageProvider, tuple[str, str]]] = {
    StorageProvider.S3: ("access_key iam_role", "region endpoint_url use_ssl verify_ssl"),
    StorageProvider.TIGRIS: ("access_key", "region endpoint_url"),
    StorageProvider.SUPABASE: ("access_key", "project_ref region endpoint_url"),
    StorageProvider.BACKBLAZE: ("application_key", ""),
    StorageProvider.GCS: ("service_account", "bucket prefix"),
    StorageProvider.AZURE_BLOB: ("account_key managed_identity", "account_name container prefix"),
    StorageProvider.GOOGLE_DRIVE: ("service_account oauth", "shared_drive_id impersonate_user"),
    StorageProvider.SHAREPOINT: ("client_credentials delegated", "site_id drive_id folder_path"),
    StorageProvider.BOX: ("oauth ccg jwt", "folder_id"),
    StorageProvider.SNOWFLAKE: (
        "key_pair username_password",
        "account warehouse database schema role incremental_column primary_key_columns[]"
        " query_timeout_seconds fetch_size",
    ),
    StorageProvider.POSTGRESQL: (
        "username_password",
        "host port database schema ssl_mode incremental_column primary_key_columns[]"
        " query_timeout_seconds fetch_size",
    ),
    StorageProvider.INSTAGRAM: ("oauth", "scopes[] business_account_id"),
    StorageProvider.TIKTOK: ("oauth", "scopes[]"),
    StorageProvider.RSS: ("http_headers", "user_agent request_timeout"),
    StorageProvider.HTTP_API: (
        "http_headers",
        "http_method items_path item_id_field item_modified_field response_content_type"
        " user_agent request_timeout",
    ),
    # Of a dataset's seed inputs only the URLs: the other input fields vary by dataset.
    StorageProvider.BRIGHTDATA: (
        "api_token",
        "customer_id default_output_format country inputs[].url",
    ),
    StorageProvider.MUX: ("access_token", ""),
    StorageProvider.EMAIL: ("webhook_secret", "inbound_address allowed_senders[] store_raw_eml"),
    StorageProvider.ICONIK: (
        "app_token",
        "base_url metadata_view_id rate_limit_rps rate_limit_redis_url",
    ),
    StorageProvider.RTSP: (
        "basic",
        "url transport segment_seconds segments_per_run connect_timeout_seconds"
        " scene_change_threshold gate_inference_name gate_retriever_id gate_retriever_min_score"
        " gate_output_stage gate_output_field gate_output_op gate_output_threshold gate_on_error"
        " gate_timeout_seconds",
    ),
}


def _displayable(credential_types: str, keys: str) -> Displayable:
    fields: dict[str, Shape] = {"provider_type": SCALAR}
    lists: dict[str, dict[str, Shape]] = {}
    for name in keys.split():
        if name.endswith("[]"):
            fields[name[:-2]] = SCALARS
        elif "[]." in name:
            outer, inner = name.split("[].")
            lists.setdefault(outer, {})[inner] = SCALAR
            fields[outer] = ListOf(lists[outer])
        else:
            fields[name] = SCALAR
    return Displayable(credential_types=frozenset(credential_types.split()), fields=fields)


DISPLAYABLE: Final[Mapping[str, Displayable]] = {
    provider: _displayable(*row) for provider, row in _TABLE.items()
}
_NOTHING: Final = Displayable(credential_types=frozenset(), fields={})
# Marks a value that is not shown at all (``None`` is a value that is shown as null).
_HIDDEN: Final = object()


def without_secrets_in_url(text: str) -> str:
    """A URL without userinfo, query string and fragment; other strings unchanged."""
    start = text.find("://")
    if start < 0:
        return text
    start += 3
    rest = text[start:]
    rest = rest[rest.rfind("@") + 1 :]  # everything up to the last "@" is userinfo
    for mark in ("?", "#"):
        cut = rest.find(mark)
        if cut >= 0:
            rest = rest[:cut]
    return text[:start] + rest


def _shown(value: Any, shape: Shape) -> Any:
    if shape is SCALAR:
        if isinstance(value, str):
            return without_secrets_in_url(value) if "://" in value else value
        if value is None or isinstance(value, bool | int | float):
            return value
        return _HIDDEN
    if isinstance(shape, ListOf):
        if not isinstance(value, list):
            return _HIDDEN
        items = (_shown(item, shape.item) for item in value)
        return [item for item in items if item is not _HIDDEN]
    assert isinstance(shape, Mapping)
    if not isinstance(value, dict):
        return _HIDDEN
    return _object(value, shape)


def _object(value: dict[str, Any], fields: Mapping[str, Shape]) -> dict[str, Any]:
    shown: dict[str, Any] = {}
    for key, item in value.items():
        shape = fields.get(key)
        if shape is not None and (kept := _shown(item, shape)) is not _HIDDEN:
            shown[key] = kept
    return shown


def redact(provider_type: str, config: dict[str, Any]) -> dict[str, Any]:
    """The configuration as it may be shown: its displayable keys, credentials as a type."""
    displayable = DISPLAYABLE.get(provider_type, _NOTHING)
    shown: dict[str, Any] = {}
    for key, value in config.items():
        if key == "credentials":
            shown[key] = _credentials(value, displayable.credential_types)
            continue
        shape = displayable.fields.get(key)
        if shape is not None and (kept := _shown(value, shape)) is not _HIDDEN:
            shown[key] = kept
    return shown


def _credentials(value: Any, kinds: frozenset[str]) -> dict[str, str | None] | None:
    if value is None:  # optional credentials left out (an open RTSP stream, a public feed)
        return None
    kind = value.get("type") if isinstance(value, dict) else None
    return {"type": kind if isinstance(kind, str) and kind in kinds else None}
