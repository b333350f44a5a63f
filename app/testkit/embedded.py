"""A mixpeek-mock server inside the calling program: on a thread, on a free loopback port, with
a database in a folder of the caller's choosing. What the pytest plugin starts once per session.

The server is the real one (the same app, transport, engine process and database), only its
event loop runs on a thread of the caller rather than in a process of its own.
"""

import secrets
import socket
import threading
import time
from pathlib import Path
from typing import Any

from app.testkit.handle import MixpeekMock

START_TIMEOUT_SECONDS = 30.0


class EmbeddedServer:
    """Start with ``start()`` (a ``MixpeekMock`` handle), stop with ``stop()``.

    ``settings`` are any of the server's settings (app/settings.py) by field name; the
    environment's ``MIXPEEK_MOCK_*`` variables apply to the others, as for ``serve``.
    """

    def __init__(self, folder: Path, **settings: Any) -> None:
        self.folder = folder
        self.settings = settings
        self.api_key = settings.pop("api_key", None) or f"sk_{secrets.token_urlsafe(24)}"
        self.admin_token = settings.pop("admin_token", None) or f"mma_{secrets.token_urlsafe(24)}"
        self._server: Any = None
        self._thread: threading.Thread | None = None

    def start(self) -> MixpeekMock:
        from app import transport
        from app.bootstrap import prepare_database
        from app.db.database import Database
        from app.main import create_app
        from app.settings import Settings

        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        settings = Settings(
            **{
                "database_url": f"sqlite:///{self.folder / 'mixpeek-mock.db'}",
                # A test's output is the test's: only what went wrong is logged.
                "log_level": "warning",
                **self.settings,
                "host": "127.0.0.1",
                "port": port,
                "api_key": self.api_key,
                "admin_token": self.admin_token,
            }
        )
        database = Database.open(settings.database_url)
        try:
            prepare_database(database, settings)
        finally:
            database.close()
        config = transport.server_config(
            create_app(settings), settings, access_log=False, port=port
        )
        self._server = transport.EmbeddedServer(config)
        self._thread = threading.Thread(
            target=self._server.run,
            kwargs={"sockets": [sock]},
            name="mixpeek-mock",
            daemon=True,
        )
        self._thread.start()
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the embedded mixpeek-mock server did not start")
            time.sleep(0.01)
        return MixpeekMock(
            f"http://127.0.0.1:{port}", api_key=self.api_key, admin_token=self.admin_token
        )

    def stop(self) -> None:
        if self._server is not None and self._thread is not None:
            self._server.should_exit = True
            self._thread.join(timeout=15)
        self._server = self._thread = None
