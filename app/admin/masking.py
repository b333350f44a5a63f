"""What the journal shows of a request: bodies and headers with every secret masked (D30).

The journal keeps what clients sent as they sent it, and masks on the way out: nothing leaves
through ``/_mock/requests`` but what ``masked_json``, ``masked_text`` and ``masked_headers``
return. Masked are:

- the ``Authorization`` header (and ``Proxy-Authorization``, ``Cookie``, ``X-API-Key``): the
  scheme stays, the credential becomes ``***``;
- every field of a connection's ``credentials``, at any depth, but its ``type`` (shown on
  reads too, D14);
- string values of keys named like secrets (``password``, ``secret_access_key``, ``token``...);
- anything that looks like an API key (``sk_…``) or an admin token (``mma_…``), in any string,
  the query string included;
- the userinfo of URLs (``s3://user:pass@host``).

A body that is not JSON gets the last three, applied to its text.
"""

import re
from collections.abc import Iterable
from typing import Any

MASK = "***"
_SECRET_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie", "x-api-key"})
_SECRET_KEY_PARTS = (
    "secret",
    "password",
    "passwd",
    "token",
    "api_key",
    "apikey",
    "private_key",
    "authorization",
    "access_key",
    "account_key",
    "credential",
)
# API keys (D7) and admin tokens (D28), and a URL's userinfo.
_KEY_LIKE = re.compile(r"\b(sk|mma)_[A-Za-z0-9_\-]{4,}")
_USERINFO = re.compile(r"(://)[^/\s\"'?#]*@")
# In text that is not JSON: "name": "value" pairs whose name looks secret.
_SECRET_PAIR = re.compile(
    r'("[^"]*(?:' + "|".join(_SECRET_KEY_PARTS) + r')[^"]*"\s*:\s*)"(?:[^"\\]|\\.)*"',
    re.IGNORECASE,
)


def _secret_name(key: str) -> bool:
    lowered = key.lower()
    return any(part in lowered for part in _SECRET_KEY_PARTS)


def masked_string(value: str) -> str:
    if "_" in value:
        value = _KEY_LIKE.sub(lambda m: f"{m.group(1)}_{MASK}", value)
    if "://" in value:
        value = _USERINFO.sub(rf"\1{MASK}@", value)
    return value


def masked_text(text: str) -> str:
    """A body that is not JSON (or a cut one): key-like strings, URLs and secret pairs."""
    return masked_string(_SECRET_PAIR.sub(rf'\1"{MASK}"', text))


def _credentials(value: Any) -> Any:
    if value is None:
        return None
    if not isinstance(value, dict):
        return MASK
    return {
        key: item if key == "type" and isinstance(item, str) else MASK
        for key, item in value.items()
    }


def masked_json(value: Any) -> Any:
    """A copy of a parsed JSON value with its secrets masked (iterative: any depth)."""
    root: list[Any] = [value]
    pending: list[tuple[Any, Any, Any]] = [(root, 0, value)]
    while pending:
        container, slot, item = pending.pop()
        if isinstance(item, dict):
            copy: dict[str, Any] = {}
            container[slot] = copy
            for key, child in item.items():
                if key == "credentials":
                    copy[key] = _credentials(child)
                elif isinstance(child, str) and _secret_name(key):
                    copy[key] = MASK
                else:
                    copy[key] = child
                    pending.append((copy, key, child))
        elif isinstance(item, list):
            items = list(item)
            container[slot] = items
            pending.extend((items, index, child) for index, child in enumerate(items))
        elif isinstance(item, str):
            container[slot] = masked_string(item)
    return root[0]


def masked_headers(headers: Iterable[tuple[bytes, bytes]]) -> dict[str, str]:
    """Request headers by lowercase name (repeated ones joined with ", "), secrets masked."""
    shown: dict[str, str] = {}
    for raw_name, raw_value in headers:
        name = raw_name.decode("latin-1").lower()
        value = raw_value.decode("latin-1")
        if name in _SECRET_HEADERS:
            scheme, _, credential = value.strip().partition(" ")
            value = f"{scheme} {MASK}" if credential else MASK
        else:
            value = masked_string(value)
        shown[name] = f"{shown[name]}, {value}" if name in shown else value
    return shown
