"""The server connects only where ``MIXPEEK_MOCK_STORAGE_ENDPOINTS`` allows (D37), and the
connection test cannot be turned into a scanner.

Endpoints are TCP listeners on loopback addresses (127.0.0.1 and 127.0.0.2, both this machine)
that count the connections they accept: a refusal must leave the count at zero. Nothing here
connects beyond this machine; public and private addresses appear only where the policy refuses
them before any packet is sent, or in checks of the policy alone.
"""
# ruff: noqa: S104 (0.0.0.0 appears as an address the policy refuses, never one bound to)

import ipaddress
import logging
import socket
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx2
import pytest
from starlette.testclient import TestClient

from app.main import create_app
from app.settings import Settings
from app.storage.egress import SETTING, EgressPolicy, EgressPolicyError, EgressRefusedError
from tests.conftest import API_KEY, Api, s3_connection_body
from tests.server_process import ServerProcess

CONNECTIONS = "/v1/organizations/connections"
DEADLINE_S = 1.0
SECRET = "wJalrXUtnFEMI-probe-secret"


class Listener:
    """A TCP endpoint on a loopback address that counts connections and answers as told.

    ``reply`` is the raw bytes sent after the request arrives (None: never answer);
    ``trickle`` sends one byte of it every that many seconds.
    """

    def __init__(
        self, host: str = "127.0.0.1", reply: bytes | None = None, trickle: float = 0.0
    ) -> None:
        self.host = host
        self.reply = reply
        self.trickle = trickle
        self.accepted = 0
        self._sock = socket.socket()
        self._sock.bind((host, 0))
        self._sock.listen(64)
        self.port: int = self._sock.getsockname()[1]
        self._open: list[socket.socket] = []
        self._stopped = False
        threading.Thread(target=self._serve, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def _serve(self) -> None:
        while not self._stopped:
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            self.accepted += 1
            self._open.append(conn)
            threading.Thread(target=self._answer, args=(conn,), daemon=True).start()

    def _answer(self, conn: socket.socket) -> None:
        try:
            conn.recv(65536)
            if self.reply is None:
                return  # silent: hold the connection open
            if self.trickle:
                for byte in self.reply:
                    conn.sendall(bytes([byte]))
                    time.sleep(self.trickle)
            else:
                conn.sendall(self.reply)
            conn.close()
        except OSError:
            pass

    def close(self) -> None:
        self._stopped = True
        self._sock.close()
        for conn in self._open:
            conn.close()


@pytest.fixture
def listen() -> Iterator[Callable[..., Listener]]:
    listeners: list[Listener] = []

    def start(
        host: str = "127.0.0.1", reply: bytes | None = None, trickle: float = 0.0
    ) -> Listener:
        listener = Listener(host, reply, trickle)
        listeners.append(listener)
        return listener

    yield start
    for listener in listeners:
        listener.close()


def http_reply(status: str, body: bytes = b"", headers: str = "") -> bytes:
    return f"HTTP/1.1 {status}\r\nContent-Length: {len(body)}\r\n{headers}\r\n".encode() + body


@pytest.fixture
def api_with(settings: Settings) -> Iterator[Callable[[str], Api]]:
    """An API client on the test's database, for a server run with the given egress policy."""
    clients: list[TestClient] = []

    def build(storage_endpoints: str) -> Api:
        app = create_app(settings.model_copy(update={"storage_endpoints": storage_endpoints}))
        client = TestClient(app, raise_server_exceptions=False)
        client.__enter__()
        clients.append(client)
        return Api(client, API_KEY)

    yield build
    for client in clients:
        client.__exit__(None, None, None)


def probe(api: Api, endpoint_url: str | None, name: str = "store") -> Any:
    body = s3_connection_body(name, test_before_save=True)
    if endpoint_url is None:
        del body["provider_config"]["endpoint_url"]
    else:
        body["provider_config"]["endpoint_url"] = endpoint_url
    return api.post(CONNECTIONS, json=body)


def refused_by_policy(response: Any, host: str) -> str:
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["type"] == "BadRequestError"
    assert error["code"] == "connection_test_failed"
    assert SETTING in error["message"]
    assert host in error["message"]
    message: str = error["message"]
    return message


def assert_nothing_stored(api: Api) -> None:
    assert api.ok("GET", CONNECTIONS)["results"] == []


# -- the policy itself: which addresses and names each value allows --------------------------


def addresses(*texts: str) -> list[Any]:
    return [ipaddress.ip_address(text) for text in texts]


@pytest.mark.parametrize(
    ("setting", "allowed", "refused"),
    [
        (
            "loopback",
            ["127.0.0.1", "127.8.9.10", "::1", "::ffff:127.0.0.1"],
            ["10.0.0.1", "192.168.1.1", "172.16.0.1", "fd00::1", "8.8.8.8", "169.254.169.254"],
        ),
        (
            "private",
            ["127.0.0.1", "::1", "10.1.2.3", "172.16.0.1", "192.168.0.9", "fd12::1"],
            ["172.32.0.1", "8.8.8.8", "2001:4860::8888", "169.254.169.254", "fe80::1", "0.0.0.0"],
        ),
        (
            "any",
            ["127.0.0.1", "10.0.0.1", "8.8.8.8", "2001:4860::8888"],
            ["169.254.169.254", "fe80::a9fe:a9fe", "0.0.0.0", "224.0.0.1"],
        ),
        (
            "127.0.0.1, 10.20.0.0/16, 169.254.169.254",
            ["127.0.0.1", "10.20.3.4", "169.254.169.254"],
            ["127.0.0.2", "10.21.0.1", "192.168.1.1", "8.8.8.8"],
        ),
        ("loopback,192.168.5.0/24", ["127.0.0.1", "192.168.5.7"], ["192.168.6.1", "10.0.0.1"]),
    ],
)
def test_each_value_allows_exactly_its_addresses(
    setting: str, allowed: list[str], refused: list[str]
) -> None:
    policy = EgressPolicy(setting)

    assert [policy.allows_address(address) for address in addresses(*allowed)] == [True] * len(
        allowed
    )
    assert [policy.allows_address(address) for address in addresses(*refused)] == [False] * len(
        refused
    )


@pytest.mark.parametrize(
    "setting", ["", " ", "loopback,", "nowhere!", "10.0.0.0/33", "1.2.3.4.5", "*.", "a b"]
)
def test_a_malformed_setting_is_refused_naming_it(setting: str) -> None:
    with pytest.raises(EgressPolicyError, match=SETTING):
        EgressPolicy(setting)


def test_a_malformed_setting_stops_the_server_from_starting() -> None:
    with pytest.raises(ValueError, match=SETTING):
        Settings(storage_endpoints="everywhere please")


def fixed_resolver(answers: dict[str, list[str]]) -> Any:
    def resolve(host: str, port: int) -> list[Any]:
        return addresses(*answers[host.lower().rstrip(".")])

    return resolve


def test_a_name_is_allowed_only_when_every_address_it_resolves_to_is() -> None:
    policy = EgressPolicy(
        "private",
        resolver=fixed_resolver(
            {"minio": ["172.18.0.3"], "mixed": ["10.0.0.5", "8.8.8.8"], "public": ["8.8.8.8"]}
        ),
    )

    assert str(policy.pin("minio", 9000).address) == "172.18.0.3"
    with pytest.raises(EgressRefusedError, match=r"8\.8\.8\.8"):
        policy.pin("mixed", 9000)
    with pytest.raises(EgressRefusedError, match="public"):
        policy.pin("public", 9000)


def test_a_listed_name_is_trusted_and_pinned_to_what_it_resolved_to() -> None:
    policy = EgressPolicy(
        "storage.example.com, *.tenant.example",
        resolver=fixed_resolver(
            {"storage.example.com": ["203.0.113.7"], "a.tenant.example": ["203.0.113.8"]}
        ),
    )

    assert str(policy.pin("STORAGE.example.com.", 443).address) == "203.0.113.7"
    assert str(policy.pin("a.tenant.example", 443).address) == "203.0.113.8"
    with pytest.raises(EgressRefusedError):
        policy.pin("203.0.113.7", 443)  # the address alone is not listed


def test_aws_endpoints_are_refused_without_a_lookup_unless_public_hosts_are_allowed() -> None:
    def no_lookups(host: str, port: int) -> list[Any]:
        raise AssertionError("looked up")

    for setting in ("loopback", "private", "10.0.0.0/8"):
        with pytest.raises(EgressRefusedError, match="public endpoint"):
            EgressPolicy(setting, resolver=no_lookups).check_public_name("s3.amazonaws.com")
    EgressPolicy("any", resolver=no_lookups).check_public_name("s3.amazonaws.com")
    EgressPolicy("*.amazonaws.com", resolver=no_lookups).check_public_name("s3.amazonaws.com")


# -- refusals happen before any packet reaches the endpoint ---------------------------------


def test_an_endpoint_outside_the_policy_is_refused_without_a_connection(
    api_with: Callable[[str], Api], listen: Callable[..., Listener]
) -> None:
    outside = listen("127.0.0.2")
    api = api_with("127.0.0.1")

    message = refused_by_policy(probe(api, outside.url), "127.0.0.2")

    assert outside.accepted == 0
    assert "127.0.0.2 is outside the allowed addresses" in message
    assert_nothing_stored(api)


def test_a_listed_address_is_reached(
    api_with: Callable[[str], Api], listen: Callable[..., Listener]
) -> None:
    inside = listen("127.0.0.2", reply=http_reply("200 OK"))
    api = api_with("127.0.0.2/32")

    probe(api, inside.url)

    assert inside.accepted == 1


@pytest.mark.parametrize("setting", ["loopback", "private", "any"])
def test_every_keyword_reaches_this_machine(
    setting: str, api_with: Callable[[str], Api], listen: Callable[..., Listener]
) -> None:
    endpoint = listen("127.0.0.2", reply=http_reply("200 OK"))

    probe(api_with(setting), endpoint.url)

    assert endpoint.accepted == 1


@pytest.mark.parametrize(
    ("setting", "endpoint_url", "host"),
    [
        ("loopback", "http://10.1.2.3:9000", "10.1.2.3"),
        ("loopback", "http://192.168.1.20", "192.168.1.20"),
        ("private", "http://203.0.113.5:9000", "203.0.113.5"),
        ("private", "https://[2001:db8::1]:9000", "2001:db8::1"),
        ("private", "http://169.254.169.254/latest/meta-data/", "169.254.169.254"),
        ("any", "http://169.254.169.254/latest/meta-data/", "169.254.169.254"),
        ("any", "http://[fe80::a9fe:a9fe]/", "fe80::a9fe:a9fe"),
        ("any", "http://0.0.0.0:9000", "0.0.0.0"),
    ],
)
def test_each_value_refuses_what_it_does_not_allow_at_once(
    setting: str, endpoint_url: str, host: str, api_with: Callable[[str], Api]
) -> None:
    api = api_with(setting)
    started = time.monotonic()

    refused_by_policy(probe(api, endpoint_url), host)

    # Decided without trying: a connection attempt to these would wait for the deadline.
    assert time.monotonic() - started < DEADLINE_S / 2
    assert_nothing_stored(api)


def test_a_name_that_resolves_to_a_refused_address_is_refused_without_a_connection(
    api_with: Callable[[str], Api], listen: Callable[..., Listener]
) -> None:
    endpoint = listen("127.0.0.1")
    api = api_with("10.0.0.0/8")

    message = refused_by_policy(probe(api, f"http://localhost:{endpoint.port}"), "localhost")

    assert endpoint.accepted == 0
    assert "resolves to 127.0.0.1" in message or "resolves to ::1" in message


@pytest.mark.parametrize("setting", ["private", "loopback"])
def test_a_connection_without_endpoint_url_means_aws_and_is_refused(
    setting: str, api_with: Callable[[str], Api]
) -> None:
    api = api_with(setting)
    started = time.monotonic()

    message = refused_by_policy(probe(api, None), "s3.amazonaws.com")

    assert "public endpoint" in message
    assert time.monotonic() - started < DEADLINE_S / 2
    assert_nothing_stored(api)


def test_a_connection_without_endpoint_url_names_its_regional_aws_endpoint(
    api_with: Callable[[str], Api],
) -> None:
    body = s3_connection_body("aws", test_before_save=True)
    del body["provider_config"]["endpoint_url"]
    body["provider_config"]["region"] = "eu-west-1"

    refused_by_policy(api_with("private").post(CONNECTIONS, json=body), "s3.eu-west-1.amazonaws")


def test_storing_without_a_test_connects_nowhere(
    api_with: Callable[[str], Api], listen: Callable[..., Listener]
) -> None:
    outside = listen("127.0.0.2")
    api = api_with("127.0.0.1")
    body = s3_connection_body("untested", endpoint_url=outside.url, test_before_save=False)

    api.ok("POST", CONNECTIONS, json=body)

    assert outside.accepted == 0


# -- the probe answers with a code or a fixed phrase, never the endpoint's own words ---------


def test_an_s3_refusal_comes_back_as_its_code_alone(
    api: Api, listen: Callable[..., Listener]
) -> None:
    body = (
        b"<?xml version='1.0'?><Error><Code>AccessDenied</Code>"
        b"<Message>internal build server db01.corp at 10.9.8.7</Message></Error>"
    )
    endpoint = listen(reply=http_reply("403 Forbidden", body))

    response = probe(api, endpoint.url)

    error = response.json()["error"]
    assert response.status_code == 400
    assert error["message"] == "Connection test failed: S3 refused the credentials: AccessDenied."
    assert "db01" not in response.text
    assert "10.9.8.7" not in response.text


@pytest.mark.parametrize(
    "reply",
    [
        http_reply("403 Forbidden", b"<Error><Code>see db01.corp:5432</Code></Error>"),
        http_reply("403 Forbidden", b"db01.corp says no"),
        http_reply("500 Internal db01.corp Error", b"<html>db01.corp</html>"),
        http_reply("503 Slow Down", b""),
        http_reply("200 OK", b"<html><title>db01.corp admin</title></html>"),
        http_reply("200 OK", b""),
        http_reply("404 Not Found", b"db01.corp"),
        b"SSH-2.0-OpenSSH_9.2 db01.corp\r\n",
    ],
    ids=["odd-code", "plain-403", "500", "503", "html-200", "empty-200", "404", "not-http"],
)
def test_anything_but_an_s3_answer_is_one_fixed_phrase(
    reply: bytes, api: Api, listen: Callable[..., Listener]
) -> None:
    endpoint = listen(reply=reply)

    response = probe(api, endpoint.url)

    assert response.status_code == 400, response.text
    assert response.json()["error"]["message"] == (
        f"Connection test failed: no S3-compatible store answered at 127.0.0.1:{endpoint.port}"
        f" within {DEADLINE_S:g} s."
    )
    assert "db01" not in response.text
    assert_nothing_stored(api)


def test_a_redirect_is_not_followed(api: Api, listen: Callable[..., Listener]) -> None:
    target = listen("127.0.0.2", reply=http_reply("200 OK"))
    for status in ("301 Moved Permanently", "302 Found", "307 Temporary Redirect"):
        endpoint = listen(reply=http_reply(status, headers=f"Location: {target.url}/\r\n"))

        response = probe(api, endpoint.url, name=f"redirect-{status[:3]}")

        assert response.status_code == 400, response.text
        assert "no S3-compatible store answered" in response.json()["error"]["message"]
    assert target.accepted == 0


def timed_probe(api: Api, endpoint_url: str) -> tuple[float, str]:
    started = time.monotonic()
    response = probe(api, endpoint_url)
    assert response.status_code == 400, response.text
    return time.monotonic() - started, response.json()["error"]["message"]


def test_closed_silent_and_trickling_ports_look_the_same(
    api: Api, listen: Callable[..., Listener]
) -> None:
    closed = listen()
    closed_port = closed.port
    closed.close()
    silent = listen(reply=None)
    trickling = listen(reply=http_reply("200 OK", b"x" * 100), trickle=0.2)
    not_s3 = listen(reply=http_reply("500 Internal Server Error"))

    timings = {
        name: timed_probe(api, f"http://127.0.0.1:{port}")
        for name, port in [
            ("closed", closed_port),
            ("silent", silent.port),
            ("trickling", trickling.port),
            ("not s3", not_s3.port),
        ]
    }

    for elapsed, message in timings.values():
        # One deadline, whatever the endpoint does: never earlier, never much later.
        assert DEADLINE_S - 0.05 <= elapsed < DEADLINE_S + 0.75, timings
        assert "no S3-compatible store answered" in message


# -- endpoint_url: only http(s), no credentials in it ----------------------------------------


@pytest.mark.parametrize(
    "endpoint_url",
    [
        "file:///etc/passwd",
        "ftp://127.0.0.1/",
        "gopher://127.0.0.1:70/",
        "127.0.0.1:9000",
        "http://",
        "http://127.0.0.1:99999",
        "http://127.0.0.1 :9000",
        "http://127.0.0.1:9000/\n",
    ],
)
def test_an_endpoint_url_that_is_not_http_is_422(api: Api, endpoint_url: str) -> None:
    response = probe(api, endpoint_url)

    assert response.status_code == 422, response.text
    problems = response.json()["error"]["details"]["validation_errors"]
    assert [problem["location"] for problem in problems] == [
        ["body", "provider_config", "endpoint_url"]
    ]
    assert_nothing_stored(api)


def test_an_endpoint_url_with_credentials_is_422_and_never_echoed_or_logged(
    api: Api, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    for endpoint_url in (
        f"http://admin:{SECRET}@127.0.0.1:9000",
        f"http://{SECRET}@127.0.0.1:9000",
        f"https://admin:{SECRET}@minio",
    ):
        body = s3_connection_body("with-userinfo", endpoint_url=endpoint_url)

        response = api.post(CONNECTIONS, json=body)

        assert response.status_code == 422, response.text
        assert "credentials" in response.text
        assert SECRET not in response.text
    assert SECRET not in caplog.text
    assert_nothing_stored(api)


# -- a real server: slow probes take their own threads, not everyone's -----------------------


@pytest.mark.e2e
def test_many_slow_probes_never_slow_other_requests(
    tmp_path: Path, listen: Callable[..., Listener]
) -> None:
    silent = listen(reply=None)
    headers = {"Authorization": f"Bearer {API_KEY}", "X-Namespace": "default"}
    with (
        ServerProcess(tmp_path / "mock.db") as server,
        httpx2.Client(base_url=server.url, headers=headers, timeout=30) as client,
    ):

        def slow_probe(index: int) -> httpx2.Response:
            body = s3_connection_body(f"slow-{index}", test_before_save=True)
            body["provider_config"]["endpoint_url"] = silent.url
            return client.post(CONNECTIONS, json=body)

        with ThreadPoolExecutor(max_workers=40) as pool:
            probes = [pool.submit(slow_probe, index) for index in range(40)]
            time.sleep(0.3)  # let them arrive
            latencies = []
            for _ in range(10):
                started = time.monotonic()
                assert client.get("/v1/health").status_code == 200
                assert client.get(CONNECTIONS).status_code == 200
                latencies.append(time.monotonic() - started)
            answers = [future.result() for future in probes]

    assert max(latencies) < 0.5, latencies
    statuses = sorted({answer.status_code for answer in answers})
    assert set(statuses) <= {400, 503}, statuses
    for answer in answers:
        assert "db01" not in answer.text
        if answer.status_code == 503:
            assert answer.headers["Retry-After"] == "1"
            assert answer.json()["error"]["type"] == "ServiceUnavailableError"
