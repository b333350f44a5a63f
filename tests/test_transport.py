"""The transport's limits, against a real server process (app/transport.py).

A client that opens a socket and sends nothing, half its headers or half its body is cut off
after a timeout; idle sockets cannot lock others out; a request whose body never fully arrived
is never processed; SIGTERM ends the process within seconds whatever the clients hold; proxy
headers are believed only from configured proxies; every answer, the transport's own included,
carries the D6 envelope and the API headers.
"""

import json
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from typing import Any

import httpx2
import pytest

from tests.conftest import API_KEY, s3_connection_body
from tests.server_process import ServerProcess

pytestmark = pytest.mark.e2e

HEADERS = {"Authorization": f"Bearer {API_KEY}", "X-Namespace": "default"}
TIMEOUT_S = 1.0
LIMITS = {
    "MIXPEEK_MOCK_HEADER_TIMEOUT_SECONDS": str(TIMEOUT_S),
    "MIXPEEK_MOCK_BODY_TIMEOUT_SECONDS": str(TIMEOUT_S),
    "MIXPEEK_MOCK_KEEP_ALIVE_TIMEOUT_SECONDS": "1",
    "MIXPEEK_MOCK_MAX_CONNECTIONS": "20",
}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    path = tmp_path_factory.mktemp("transport") / "mock.db"
    with ServerProcess(path, env=LIMITS, extra_args=("--access-log",)) as process:
        yield process


def ok(response: httpx2.Response) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def new_sync_path(server: ServerProcess, name: str) -> str:
    with httpx2.Client(base_url=server.url, headers=HEADERS, timeout=10) as http:
        bucket = ok(
            http.post(
                "/v1/buckets", json={"bucket_name": name, "bucket_schema": {"properties": {}}}
            )
        )
        connection = ok(http.post("/v1/organizations/connections", json=s3_connection_body(name)))
        sync = ok(
            http.post(
                f"/v1/buckets/{bucket['bucket_id']}/syncs",
                json={"connection_id": connection["connection_id"], "source_path": "in"},
            )
        )
    return f"/v1/buckets/{bucket['bucket_id']}/syncs/{sync['sync_config_id']}"


def get(server: ServerProcess, path: str) -> dict[str, Any]:
    with httpx2.Client(base_url=server.url, headers=HEADERS, timeout=10) as http:
        return ok(http.get(path))


def connect(server: ServerProcess) -> socket.socket:
    return socket.create_connection(("127.0.0.1", server.port), timeout=10)


def read_until_closed(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection."""
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    return data


def patch_head(server: ServerProcess, path: str, length: int) -> bytes:
    return (
        f"PATCH {path} HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n"
        f"Authorization: Bearer {API_KEY}\r\nX-Namespace: default\r\n"
        f"Content-Type: application/json\r\nContent-Length: {length}\r\n\r\n"
    ).encode()


def envelope_of(raw: bytes) -> tuple[int, dict[str, str], dict[str, Any]]:
    """Status, headers and JSON body of one raw HTTP/1.1 answer."""
    head, _, body = raw.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {
        name.strip().lower(): value.strip()
        for name, _, value in (line.partition(":") for line in lines)
    }
    return int(status_line.split()[1]), headers, json.loads(body)


def assert_api_headers(headers: Any) -> None:
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["cache-control"] == "no-store"


@pytest.mark.parametrize(
    "sent",
    [b"", b"GET /v1/health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: "],
    ids=["silent socket", "half-sent header"],
)
def test_a_connection_without_complete_headers_is_closed_after_the_timeout(
    server: ServerProcess, sent: bytes
) -> None:
    with connect(server) as sock:
        sock.sendall(sent)
        started = time.monotonic()
        assert read_until_closed(sock) == b""
        elapsed = time.monotonic() - started
    assert TIMEOUT_S * 0.8 <= elapsed < TIMEOUT_S + 2


def test_a_half_sent_header_after_a_first_request_is_closed_too(server: ServerProcess) -> None:
    with connect(server) as sock:
        sock.sendall(b"GET /v1/health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        time.sleep(0.3)
        first = sock.recv(65536)
        assert first.startswith(b"HTTP/1.1 200")
        sock.sendall(b"GET /v1/health HTTP/1.1\r\n")
        started = time.monotonic()
        assert read_until_closed(sock) == b""
        assert time.monotonic() - started < TIMEOUT_S + 2


def test_an_idle_keep_alive_connection_is_closed(server: ServerProcess) -> None:
    with connect(server) as sock:
        sock.sendall(b"GET /v1/health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        started = time.monotonic()
        answer = read_until_closed(sock)
        assert answer.startswith(b"HTTP/1.1 200")
        assert time.monotonic() - started < 3


def test_a_half_sent_body_is_answered_400_and_closed_and_never_applied(
    server: ServerProcess,
) -> None:
    path = new_sync_path(server, "half-body")
    before = get(server, path)
    body = b'{"description": "never applied"}'
    with connect(server) as sock:
        sock.sendall(patch_head(server, path, len(body) + 500) + body)
        started = time.monotonic()
        answer = read_until_closed(sock)
        elapsed = time.monotonic() - started
    status, headers, envelope = envelope_of(answer)
    assert status == 400
    assert envelope["error"]["type"] == "BadRequestError"
    assert_api_headers(headers)
    assert TIMEOUT_S * 0.8 <= elapsed < TIMEOUT_S + 2
    assert get(server, path) == before


def test_a_body_the_client_abandoned_is_never_applied(tmp_path: Any) -> None:
    """Content-Length 500 bytes more than sent, then the client closes: before its deadline,
    the server sees the disconnect, and must not take the part it got for the whole."""
    with ServerProcess(tmp_path / "mock.db") as server:  # the default, long body timeout
        path = new_sync_path(server, "abandoned")
        before = get(server, path)
        body = b'{"description": "abandoned"}'
        with connect(server) as sock:
            sock.sendall(patch_head(server, path, len(body) + 500) + body)
            time.sleep(0.2)
        time.sleep(0.3)
        assert get(server, path) == before
        assert "Traceback" not in server.log()


def test_idle_sockets_past_the_cap_do_not_lock_out_a_new_client(server: ServerProcess) -> None:
    idle = [connect(server) for _ in range(100)]
    try:
        time.sleep(0.2)
        started = time.monotonic()
        response = httpx2.get(server.url + "/v1/health", timeout=10)
        assert response.status_code == 200
        assert time.monotonic() - started < 0.5
    finally:
        for sock in idle:
            sock.close()


def test_a_request_that_finds_every_connection_busy_gets_a_503_envelope(
    server: ServerProcess,
) -> None:
    path = new_sync_path(server, "busy-connections")
    busy = [connect(server) for _ in range(20)]
    try:
        for sock in busy:  # each one holds a request whose body has not arrived
            sock.sendall(patch_head(server, path, 100))
        time.sleep(0.2)
        response = httpx2.get(server.url + "/v1/health", timeout=10)
    finally:
        for sock in busy:
            sock.close()
    assert response.status_code == 503
    assert response.headers["retry-after"] == "1"
    assert response.json()["error"]["type"] == "ServiceUnavailableError"
    assert_api_headers(response.headers)


def test_a_request_that_is_not_http_gets_the_envelope(server: ServerProcess) -> None:
    with connect(server) as sock:
        sock.sendall(b"HELLO THERE\r\n\r\n")
        status, headers, envelope = envelope_of(read_until_closed(sock))
    assert status == 400
    assert envelope["success"] is False
    assert envelope["error"]["type"] == "BadRequestError"
    assert_api_headers(headers)


def test_sigterm_ends_the_server_quickly_while_clients_hold_connections(tmp_path: Any) -> None:
    server = ServerProcess(tmp_path / "mock.db")  # default timeouts: nothing expires by itself
    server.start()
    try:
        path = new_sync_path(server, "held")
        held_body = connect(server)
        held_body.sendall(patch_head(server, path, 100) + b'{"desc')
        held_header = connect(server)
        held_header.sendall(b"GET /v1/health HTTP/1.1\r\n")
        time.sleep(0.2)
        assert server.process is not None
        started = time.monotonic()
        server.process.send_signal(signal.SIGTERM)
        try:
            server.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pytest.fail("the server did not exit within 5 s of SIGTERM")
        assert time.monotonic() - started < 5
        held_body.close()
        held_header.close()
    finally:
        server.kill()


@pytest.mark.parametrize(
    ("trusted", "logged"),
    [(None, "127.0.0.1"), ("127.0.0.1", "203.0.113.9")],
    ids=["no proxy trusted by default", "a configured proxy"],
)
def test_x_forwarded_for_is_believed_only_from_configured_proxies(
    tmp_path: Any, trusted: str | None, logged: str
) -> None:
    env = {"MIXPEEK_MOCK_TRUSTED_PROXIES": trusted} if trusted else {}
    with ServerProcess(tmp_path / "mock.db", env=env, extra_args=("--access-log",)) as server:
        response = httpx2.get(
            server.url + "/v1/health",
            headers={"X-Forwarded-For": "203.0.113.9", "X-Forwarded-Proto": "https"},
            timeout=10,
        )
        assert response.status_code == 200
        time.sleep(0.2)
        lines = [line for line in server.log().splitlines() if "GET /v1/health" in line]
    assert lines
    assert logged in lines[-1]
    if trusted is None:
        assert "203.0.113.9" not in server.log()
