"""Cross-origin requests from browser front ends (CORS), for the origins the operator allows.

The policy is ``MIXPEEK_MOCK_CORS_ORIGINS``: a comma-separated list of origins, each
``scheme://host[:port]`` where the port may be ``*`` (any port, or none), or ``*`` for every
origin, or empty for none. The default allows any port of ``http://localhost`` and
``http://127.0.0.1``: a front end's development server, wherever it listens.

The request guard (app/middleware.py) applies it, and only to requests that carry an
``Origin`` header, so that the others pay one dictionary lookup:

- a preflight (``OPTIONS`` with ``Access-Control-Request-Method``) is answered by the guard
  itself, before authentication, since a browser never sends credentials with one: 204 with
  the methods and headers allowed for an allowed origin; a 403 envelope, without CORS headers,
  for any other (a browser then refuses the request; a person reading the answer learns why);
- every other answer to an allowed origin, errors included (a 401 must be readable by the page
  that caused it), carries ``Access-Control-Allow-Origin`` echoing the origin, ``Vary: Origin``
  and the headers a page may read; an answer to another origin carries none of them, and is
  otherwise the same (the browser keeps it from the page; same-origin pages need nothing).

No ``Access-Control-Allow-Credentials``: the API reads no cookie, the key is sent by the page
itself in ``Authorization``, which CORS allows without credentials mode.
"""

import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # settings import this module: keep it light
    from starlette.types import Message, Send

ALLOW_METHODS = b"GET, HEAD, POST, PATCH, DELETE"
# What API clients send: the key, the namespace, the body's type, and the headers of
# conditional and idempotent writes.
ALLOW_HEADERS = ("Authorization", "Content-Type", "X-Namespace", "Idempotency-Key", "If-Match")
EXPOSE_HEADERS = b"ETag, Idempotent-Replayed, Retry-After, X-Request-ID, WWW-Authenticate, Allow"
MAX_AGE_SECONDS = b"600"
PREFLIGHT_VARY = b"Origin, Access-Control-Request-Method, Access-Control-Request-Headers"

_ORIGIN = re.compile(
    r"(?P<site>[a-z][a-z0-9+.-]*://(?:\[[0-9a-f:.]+\]|[a-z0-9._~-]+))(?::(?P<port>[0-9]{1,5}|\*))?"
)
# What "*" echoes: any origin a browser could send (visible ASCII), never a control character.
_VISIBLE = re.compile(r"[\x21-\x7e]+")
_TOKEN = re.compile(r"[A-Za-z0-9!#$%&'*+.^_`|~-]+")
_ALLOWED_HEADER_NAMES = frozenset(name.lower() for name in ALLOW_HEADERS)
_MAX_SHOWN_ORIGIN = 200


class CorsOriginsError(ValueError):
    """A malformed ``MIXPEEK_MOCK_CORS_ORIGINS``."""


class CorsPolicy:
    """Which origins may call the API from a browser, and the headers that tell the browser."""

    def __init__(self, origins: str) -> None:
        self.any_origin = False
        exact: set[str] = set()
        any_port: set[str] = set()
        for entry in origins.split(","):
            entry = entry.strip().lower().removesuffix("/")
            if not entry:
                continue
            if entry == "*":
                self.any_origin = True
                continue
            match = _ORIGIN.fullmatch(entry)
            if match is None:
                raise CorsOriginsError(
                    f"CORS origin {entry!r} is not an origin: expected scheme://host[:port]"
                    " (the port may be *), or * for any origin"
                )
            if match["port"] == "*":
                any_port.add(match["site"])
            else:
                exact.add(entry)
        self.exact = frozenset(exact)
        self.any_port = frozenset(any_port)

    def allows(self, origin: str) -> bool:
        if origin in self.exact:
            return True
        if self.any_origin:
            return _VISIBLE.fullmatch(origin) is not None
        site, colon, port = origin.rpartition(":")
        if colon and port.isdigit() and "//" in site:
            return site in self.any_port
        return origin in self.any_port  # no port at all: the scheme's default

    def preflight_headers(
        self, origin: bytes, requested_headers: bytes | None
    ) -> list[tuple[bytes, bytes]] | None:
        """The headers of a 204 answering a preflight from ``origin``; None when the origin is
        not allowed."""
        if not self.allows(origin.decode("latin-1")):
            return None
        # Any header the page asks for is allowed too: this is a development server, and a
        # client library's own headers should not need a setting.
        requested = (requested_headers or b"").decode("latin-1").split(",")
        extra = [
            name
            for name in (part.strip() for part in requested)
            if _TOKEN.fullmatch(name) and name.lower() not in _ALLOWED_HEADER_NAMES
        ]
        return [
            (b"access-control-allow-origin", origin),
            (b"access-control-allow-methods", ALLOW_METHODS),
            (b"access-control-allow-headers", ", ".join((*ALLOW_HEADERS, *extra)).encode()),
            (b"access-control-max-age", MAX_AGE_SECONDS),
            (b"vary", PREFLIGHT_VARY),
        ]

    @staticmethod
    def refusal(origin: bytes) -> str:
        """The message of the 403 answering a preflight from an origin that is not allowed."""
        shown = origin.decode("latin-1")
        if len(shown) > _MAX_SHOWN_ORIGIN:
            shown = shown[: _MAX_SHOWN_ORIGIN - 3] + "..."
        return (
            f"Cross-origin requests from {shown!r} are not allowed: add the origin to"
            " MIXPEEK_MOCK_CORS_ORIGINS."
        )

    def wrap(self, send: "Send", origin: bytes) -> "Send":
        """``send``, adding the CORS headers to the answer when ``origin`` is allowed."""
        if not self.allows(origin.decode("latin-1")):
            return send

        async def send_with_cors(message: "Message") -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", ()))
                vary = [i for i, (name, _) in enumerate(headers) if name.lower() == b"vary"]
                if vary:
                    name, value = headers[vary[0]]
                    headers[vary[0]] = (name, value + b", Origin")
                else:
                    headers.append((b"vary", b"Origin"))
                headers += [
                    (b"access-control-allow-origin", origin),
                    (b"access-control-expose-headers", EXPOSE_HEADERS),
                ]
                message = {**message, "headers": headers}
            await send(message)

        return send_with_cors
