"""S3 and S3-compatible stores, reached only where the egress policy allows (D37).

``open_s3_client`` builds a boto3 client whose every TCP connection goes through the policy:
the host is resolved once, checked, and the socket opened to the checked address (TLS still
verifies and sends the original name). Connections go only to the endpoint's host, or to its
subdomains for virtual-host addressing: a redirect elsewhere is never followed. Environment
proxies are ignored, since a proxy would connect on the server's behalf where the policy cannot
look.

A ``Deadline`` bounds everything a client does in wall-clock time: botocore's own timeouts
apply per connect and per read, so an endpoint sending a byte every few seconds could hold a
read open for minutes. At the deadline every socket the client opened is shut down, which
ends any read blocked on it.
"""

import contextlib
import socket
import threading
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from app.storage.egress import Destination, EgressPolicy, EgressRefusedError

# The S3 error codes a probe may repeat: they say what is wrong with the credentials or the
# request, and none carries text of the endpoint's choosing.
KNOWN_S3_ERROR_CODES = frozenset(
    {
        "AccessDenied",
        "AccountProblem",
        "AllAccessDisabled",
        "AuthorizationHeaderMalformed",
        "ExpiredToken",
        "InvalidAccessKeyId",
        "InvalidBucketName",
        "InvalidObjectState",
        "InvalidRequest",
        "InvalidSecurity",
        "InvalidToken",
        "MissingSecurityHeader",
        "NoSuchBucket",
        "NoSuchKey",
        "NotSignedUp",
        "RequestTimeTooSkewed",
        "SignatureDoesNotMatch",
        "TokenRefreshRequired",
    }
)


class DeadlineExpiredError(OSError):
    """The client's wall-clock deadline passed before it could open a connection."""


class Deadline:
    """One wall-clock limit for a storage client: connects, reads and retries together."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.expires_at = time.monotonic() + seconds
        self.expired = False
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._timer = threading.Timer(seconds, self.expire)
        self._timer.daemon = True
        self._timer.start()

    def remaining(self) -> float:
        return max(0.0, self.expires_at - time.monotonic())

    def track(self, sock: socket.socket) -> None:
        """Shut ``sock`` down at the deadline (at once, if it has passed)."""
        with self._lock:
            if not self.expired:
                self._sockets.append(sock)
                return
        sock.close()
        raise DeadlineExpiredError("the storage deadline has passed")

    def expire(self) -> None:
        with self._lock:
            self.expired = True
            sockets, self._sockets = self._sockets, []
        for sock in sockets:
            with contextlib.suppress(OSError):  # already closed by its connection
                sock.shutdown(socket.SHUT_RDWR)

    def cancel(self) -> None:
        self._timer.cancel()


@dataclass(frozen=True)
class S3Endpoint:
    """Where a configuration points: its URL (None means AWS's own) and host and port."""

    url: str | None
    host: str
    port: int

    @property
    def shown(self) -> str:
        """The endpoint as messages may name it (``endpoint_url`` never holds credentials)."""
        return f"{self.host}:{self.port}"


class EgressGuard:
    """The policy's decisions for one client: each host resolved and checked once.

    ``aws_endpoint`` marks a client on AWS's own endpoints (no ``endpoint_url``): those are
    public hosts, refused without a lookup unless the policy allows public hosts or names them.
    """

    def __init__(self, policy: EgressPolicy, endpoint_host: str, *, aws_endpoint: bool) -> None:
        self.policy = policy
        self.endpoint_host = endpoint_host.lower().rstrip(".")
        self.aws_endpoint = aws_endpoint
        self._pinned: dict[tuple[str, int], Destination] = {}
        self._lock = threading.Lock()

    def destination(self, host: str, port: int) -> Destination:
        name = host.lower().rstrip(".")
        if name != self.endpoint_host and not name.endswith("." + self.endpoint_host):
            raise EgressRefusedError(host, f"the client may only connect to {self.endpoint_host}")
        with self._lock:
            pinned = self._pinned.get((name, port))
        if pinned is None:
            if self.aws_endpoint:
                self.policy.check_public_name(name)
            pinned = self.policy.pin(name, port)
            with self._lock:
                self._pinned[(name, port)] = pinned
        return pinned


def endpoint_of(config: dict[str, Any]) -> S3Endpoint:
    """The endpoint a configuration names; AWS's regional one when it names none."""
    url = config.get("endpoint_url")
    if url is None:
        region = config.get("region") or "us-east-1"
        host = "s3.amazonaws.com" if region == "us-east-1" else f"s3.{region}.amazonaws.com"
        return S3Endpoint(None, host, 443)
    parts = urlsplit(url)
    default_port = 443 if parts.scheme == "https" else 80
    return S3Endpoint(url, parts.hostname or "", parts.port or default_port)


def _pinned_session_class() -> type:
    """botocore's HTTP session, with connections that go through an ``EgressGuard``.

    Built on first use: botocore takes a good part of a second to import, and most server
    runs never reach storage.
    """
    from botocore.awsrequest import (
        AWSHTTPConnection,
        AWSHTTPConnectionPool,
        AWSHTTPSConnection,
        AWSHTTPSConnectionPool,
    )
    from botocore.httpsession import ProxyConfiguration, URLLib3Session
    from urllib3.exceptions import ConnectTimeoutError, NewConnectionError
    from urllib3.util.connection import create_connection

    class PinnedSession(URLLib3Session):  # type: ignore[misc]
        def __init__(self, guard: EgressGuard, deadline: Deadline | None, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            self._proxy_config = ProxyConfiguration()  # no proxies, environment's included

            def new_conn(connection: Any) -> socket.socket:
                destination = guard.destination(connection.host, connection.port)
                timeout = connection.timeout
                if deadline is not None:
                    remaining = deadline.remaining()
                    if remaining <= 0:
                        raise DeadlineExpiredError("the storage deadline has passed")
                    if not isinstance(timeout, int | float) or timeout > remaining:
                        timeout = remaining
                try:
                    sock = create_connection(
                        (str(destination.address), connection.port),
                        timeout,
                        source_address=connection.source_address,
                        socket_options=connection.socket_options,
                    )
                except TimeoutError as exc:
                    raise ConnectTimeoutError(connection, "connection timed out") from exc
                except OSError as exc:
                    raise NewConnectionError(connection, f"could not connect: {exc}") from exc
                if deadline is not None:
                    deadline.track(sock)
                return sock

            class Http(AWSHTTPConnection):  # type: ignore[misc]
                _new_conn = new_conn

            class Https(AWSHTTPSConnection):  # type: ignore[misc]
                _new_conn = new_conn

            class HttpPool(AWSHTTPConnectionPool):  # type: ignore[misc]
                ConnectionCls = Http

            class HttpsPool(AWSHTTPSConnectionPool):  # type: ignore[misc]
                ConnectionCls = Https

            self._pool_classes_by_scheme = {"http": HttpPool, "https": HttpsPool}
            self._manager.pool_classes_by_scheme = self._pool_classes_by_scheme

    return PinnedSession


_session_class: type | None = None


def open_s3_client(
    config: dict[str, Any],
    policy: EgressPolicy,
    *,
    deadline: Deadline | None = None,
    timeout_seconds: float = 10.0,
    max_connections: int = 10,
) -> Any:
    """A boto3 S3 client for a validated S3 configuration, reaching only what ``policy`` allows.

    The endpoint is checked (and its address pinned) here, before any connection: an endpoint
    outside the policy raises ``EgressRefusedError`` at once.
    """
    global _session_class
    import boto3
    from botocore.config import Config

    endpoint = endpoint_of(config)
    guard = EgressGuard(policy, endpoint.host, aws_endpoint=endpoint.url is None)
    guard.destination(endpoint.host, endpoint.port)
    credentials = config["credentials"]
    client = boto3.client(
        "s3",
        endpoint_url=endpoint.url,
        region_name=config.get("region") or "us-east-1",
        aws_access_key_id=credentials["access_key_id"],
        aws_secret_access_key=credentials["secret_access_key"],
        aws_session_token=credentials.get("session_token"),
        verify=config.get("verify_ssl", True),
        config=Config(
            connect_timeout=timeout_seconds,
            read_timeout=timeout_seconds,
            retries={"max_attempts": 1},
            max_pool_connections=max_connections,
            # Emulators (MinIO, moto, LocalStack) serve buckets as paths, not subdomains.
            s3={"addressing_style": "path" if endpoint.url else "auto"},
        ),
    )
    if _session_class is None:
        _session_class = _pinned_session_class()
    # Every request of the client goes through its endpoint's session; this one pins.
    client._endpoint.http_session = _session_class(
        guard,
        deadline,
        verify=config.get("verify_ssl", True),
        timeout=(timeout_seconds, timeout_seconds),
        max_pool_connections=max_connections,
    )
    return client


def s3_error_code(exc: BaseException) -> str | None:
    """The S3 error code of a refusal, when it is one that may be repeated; else None."""
    from botocore.exceptions import ClientError

    if not isinstance(exc, ClientError):
        return None
    code = exc.response.get("Error", {}).get("Code")
    return code if code in KNOWN_S3_ERROR_CODES else None
