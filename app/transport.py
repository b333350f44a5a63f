"""The HTTP transport: uvicorn's httptools protocol with the limits a shared server needs.

uvicorn bounds an idle keep-alive connection and, optionally, the number of connections, but
not a client that opens a socket and sends nothing, sends half its headers, or half its body:
each such socket would stay open for ever, and enough of them exhaust the process's file
descriptors. So ``GuardedHttpProtocol`` keeps one deadline per connection:

- while the connection waits for a request (from the moment it opens, and after each answer),
  the request's headers must be complete within ``header_timeout``, else it is closed;
- once the headers are in, the body must be complete within ``body_timeout``, else the client
  gets a 400 (when nothing was answered yet) and the connection is closed. The request guard
  then sees a disconnect and processes nothing (app/middleware.py);
- at most ``max_connections`` are open: a new connection past the cap closes the one that has
  waited longest for a request; when every connection is busy with a request, the request that
  finds no room is answered 503 with ``Retry-After`` (the D6 envelope, where uvicorn's own
  ``limit_concurrency`` answers plain text);
- on shutdown, a connection still receiving a request's body is closed at once (the request was
  never processed); the others get ``shutdown_timeout`` to finish (uvicorn's graceful timeout).

A request may also be dropped on purpose (a fault rule, CONTRACT.md D31): the application
raises ``DropConnection`` before it has answered, and the protocol closes the connection with
nothing written, as a crashed upstream or a broken network would. (Under another server, such
as a test's ASGI client, the exception surfaces as an error: only this transport can close a
socket.)

The checks cost a timer per request, armed and cancelled on the event loop; the hot path of
the application is untouched. Answers the protocol writes itself (this 400 and 503, and the 400
for a request that is not HTTP) carry the D6 envelope and the API headers too.
"""

import asyncio
import contextlib
import copy
import signal
import socket
from collections.abc import Iterator
from typing import Any

import uvicorn
from starlette.types import ASGIApp, Receive, Scope, Send
from uvicorn.protocols.http.httptools_impl import (
    STATUS_LINE,
    HttpToolsProtocol,
    RequestResponseCycle,
)

from app import signals
from app.errors import BadRequestError, DropConnection, ServiceUnavailableError, error_body
from app.headers import API_HEADERS
from app.settings import Settings

MSG_BODY_TIMEOUT = "The request body did not arrive in time; the connection is closed."
MSG_OVER_CAPACITY = "Too many requests in progress; retry shortly."
MSG_NOT_HTTP = "Invalid HTTP request received."


def _dropping(app: ASGIApp, cycle: RequestResponseCycle) -> ASGIApp:
    """``app``, closing ``cycle``'s connection with no answer when it raises DropConnection."""

    async def run(scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await app(scope, receive, send)
        except DropConnection:
            if cycle.response_started:
                raise  # too late to say nothing: uvicorn closes the connection mid-answer
            # Nothing more may be written, and uvicorn must not answer a 500 in its place.
            cycle.keep_alive = False
            cycle.disconnected = True
            cycle.transport.close()

    return run


def _envelope_bytes(status: int, type_: str, message: str) -> bytes:
    """A complete HTTP/1.1 answer carrying the D6 envelope, that closes the connection."""
    body = error_body(status, type_, message)
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        *API_HEADERS,
        (b"connection", b"close"),
    ]
    return b"".join(
        [
            STATUS_LINE[status],
            *(name + b": " + value + b"\r\n" for name, value in headers),
            b"\r\n",
            body,
        ]
    )


async def over_capacity(scope: Scope, receive: Receive, send: Send) -> None:
    """The answer to a request that finds every connection busy."""
    body = error_body(503, ServiceUnavailableError.type, MSG_OVER_CAPACITY)
    await send(
        {
            "type": "http.response.start",
            "status": 503,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                *API_HEADERS,
                (b"retry-after", b"1"),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class GuardedHttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with header and body deadlines and a connection cap.

    uvicorn builds one per connection from its config alone, so the limits are class
    attributes of a subclass made for the settings (``configured``).
    """

    header_timeout: float = 10.0
    body_timeout: float = 20.0
    max_connections: int = 512

    @classmethod
    def configured(cls, settings: Settings) -> type["GuardedHttpProtocol"]:
        return type(
            cls.__name__,
            (cls,),
            {
                "header_timeout": settings.header_timeout_seconds,
                "body_timeout": settings.body_timeout_seconds,
                "max_connections": settings.max_connections,
            },
        )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._deadline: asyncio.TimerHandle | None = None
        self._waiting_since = 0.0  # when the connection began waiting for a request

    # --- the deadline ------------------------------------------------------------------------

    def _arm(self, delay: float, callback: Any) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
        self._deadline = self.loop.call_later(delay, callback)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _wait_for_request(self) -> None:
        self._waiting_since = self.loop.time()
        self._arm(self.header_timeout, self._headers_too_late)

    def _waiting(self) -> bool:
        """No request in progress: the connection waits for one (or for its headers)."""
        return self.cycle is None or self.cycle.response_complete

    def _headers_too_late(self) -> None:
        self._deadline = None
        if self._waiting() and not self.transport.is_closing():
            self.transport.close()

    def _body_too_late(self) -> None:
        self._deadline = None
        if self.transport.is_closing():
            return
        if self.cycle is not None and not self.cycle.response_started:
            self.cycle.response_started = True  # nothing else may answer on this connection
            self.transport.write(_envelope_bytes(400, BadRequestError.type, MSG_BODY_TIMEOUT))
        self.transport.close()

    # --- uvicorn's hooks ---------------------------------------------------------------------

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._wait_for_request()
        if (
            len(self.connections) > self.max_connections
            and self._open_connections() > self.max_connections
        ):
            self._make_room()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        cycle = self.cycle
        if (
            self._deadline is None
            and cycle is not None
            and cycle.more_body
            and not cycle.response_complete
            and not self.transport.is_closing()
        ):
            # Headers are in, the body is not: it has body_timeout to arrive.
            self._arm(self.body_timeout, self._body_too_late)

    def on_headers_complete(self) -> None:
        self._disarm()
        if (
            len(self.connections) > self.max_connections
            and self._open_connections() > self.max_connections
            and not self._make_room()
        ):
            app, self.app = self.app, over_capacity
            try:
                super().on_headers_complete()
            finally:
                self.app = app
            return
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        super().on_message_complete()
        if self.cycle is not None and not self.cycle.more_body:
            self._disarm()

    def on_response_complete(self) -> None:
        pipelined = bool(self.pipeline)
        super().on_response_complete()
        if not pipelined and not self.transport.is_closing():
            self._wait_for_request()

    def _start_asgi_task(self, cycle: RequestResponseCycle, app: Any) -> None:
        super()._start_asgi_task(cycle, _dropping(app, cycle))  # type: ignore[arg-type]

    def shutdown(self) -> None:
        cycle = self.cycle
        if cycle is not None and cycle.more_body and not cycle.response_started:
            self.transport.close()  # its body never arrived: the request was not processed
            return
        super().shutdown()

    def send_400_response(self, msg: str) -> None:
        self.transport.write(_envelope_bytes(400, BadRequestError.type, MSG_NOT_HTTP))
        self.transport.close()

    # --- the connection cap ------------------------------------------------------------------

    def _open_connections(self) -> int:
        """Connections not already closing (uvicorn forgets a closed one a moment later)."""
        return sum(1 for connection in self.connections if not connection.transport.is_closing())

    def _make_room(self) -> bool:
        """Close the connection that has waited longest for a request; False if none waits."""
        idle = [
            connection
            for connection in self.connections
            if isinstance(connection, GuardedHttpProtocol)
            and connection is not self
            and connection._waiting()
            and not connection.transport.is_closing()
        ]
        if not idle:
            return False
        oldest = min(idle, key=lambda connection: connection._waiting_since)
        oldest.transport.close()
        return True


class _Server(uvicorn.Server):
    """uvicorn's server, taking over the signals start-up recorded (app/signals.py).

    A signal that arrived before uvicorn installed its handler asks it to stop at once (it
    still completes its start, so that the lifespan's shutdown stops what the start began);
    after a graceful stop the signal is not raised again, as uvicorn would, which ends a
    cleanly stopped process with a traceback (SIGINT) or a signal status (SIGTERM).
    """

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        previous = {sig: signal.signal(sig, self.handle_exit) for sig in signals.HANDLED}
        for sig in signals.received():
            self.handle_exit(sig, None)
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)


def log_config(level: str) -> dict[str, Any]:
    """uvicorn's logging, with this project's loggers (``mixpeek_mock.*``) on its handler."""
    from uvicorn.config import LOGGING_CONFIG

    config = copy.deepcopy(LOGGING_CONFIG)
    config["loggers"]["mixpeek_mock"] = {
        "handlers": ["default"],
        "level": level.upper(),
        "propagate": False,
    }
    return config


def run(app: ASGIApp, settings: Settings, *, access_log: bool, sock: socket.socket) -> None:
    """Serve ``app`` with uvicorn on the listening ``sock``, with the limits of ``settings``;
    returns once a signal (or a failed start-up) has stopped it."""
    _Server(server_config(app, settings, access_log=access_log, port=sock.getsockname()[1])).run(
        sockets=[sock]
    )


def server_config(
    app: ASGIApp, settings: Settings, *, access_log: bool, port: int
) -> uvicorn.Config:
    """uvicorn's configuration for ``app``: this module's protocol, with ``settings``' limits."""
    trusted = settings.trusted_proxies
    return uvicorn.Config(
        app,
        host=settings.host,
        port=port,
        log_level=settings.log_level,
        log_config=log_config(settings.log_level),
        access_log=access_log,
        server_header=False,
        http=GuardedHttpProtocol.configured(settings),
        timeout_keep_alive=settings.keep_alive_timeout_seconds,
        timeout_graceful_shutdown=settings.shutdown_timeout_seconds,
        # X-Forwarded-* only from the proxies the operator names (uvicorn's default believes
        # 127.0.0.1, so any local client could write any address into the log).
        proxy_headers=trusted is not None,
        forwarded_allow_ips=trusted if trusted is not None else "",
    )


class EmbeddedServer(uvicorn.Server):
    """uvicorn's server for a thread of another program (the pytest plugin's server): the
    program's signals stay the program's."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield
