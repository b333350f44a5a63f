"""``MixpeekMock``: a test's handle on a mixpeek-mock server, in this process or elsewhere.

One class for both cases: the pytest plugin hands it out for the server it started, and
``MixpeekMock.attach`` makes one for a server already running (a container, a CI service).
It speaks HTTP with the standard library only, so it needs nothing the server does not.

    def test_retries(mixpeek_mock):
        mixpeek_mock.fault(path="/v1/buckets/**", status=429, retry_after=1, times=1)
        client = mixpeek_mock.client()            # the SDK's high-level client
        client.buckets.list()                     # retried once, then answered
        assert mixpeek_mock.count(path="/v1/buckets/**") == 2
"""

import json
import urllib.error
import urllib.parse
import urllib.request
from datetime import datetime
from pathlib import Path
from typing import Any

DEFAULT_NAMESPACE = "default"


class MockAdminError(Exception):
    """The admin API refused a call: its status and the envelope it answered."""

    def __init__(self, status: int, body: Any) -> None:
        message = body.get("error", {}).get("message") if isinstance(body, dict) else body
        super().__init__(f"{status}: {message}")
        self.status = status
        self.body = body


def _rfc3339(instant: datetime | str) -> str:
    return instant if isinstance(instant, str) else instant.isoformat()


def _filters(
    method: str | None,
    path: str | None,
    status: int | None,
    namespace: str | None,
    since: datetime | str | None,
) -> dict[str, Any]:
    given = {
        "method": method,
        "path": path,
        "status": status,
        "namespace": namespace,
        "since": None if since is None else _rfc3339(since),
    }
    return {name: value for name, value in given.items() if value is not None}


class MixpeekMock:
    """Where the server is, the credentials to use, and the admin API as methods."""

    def __init__(
        self,
        base_url: str,
        *,
        api_key: str,
        admin_token: str,
        namespace: str = DEFAULT_NAMESPACE,
        timeout: float = 30.0,
    ) -> None:
        # The address without /v1, as the SDK's Configuration(host=...) takes it.
        self.base_url = base_url.rstrip("/").removesuffix("/v1")
        self.api_key = api_key
        self.admin_token = admin_token
        self.namespace = namespace
        self.timeout = timeout

    @classmethod
    def attach(
        cls,
        base_url: str,
        *,
        api_key: str,
        admin_token: str,
        namespace: str = DEFAULT_NAMESPACE,
    ) -> "MixpeekMock":
        """A handle on a server that is already running."""
        return cls(base_url, api_key=api_key, admin_token=admin_token, namespace=namespace)

    # --- pointing clients at the server ---------------------------------------------------

    @property
    def api_url(self) -> str:
        """The address with ``/v1``, as the SDK's high-level ``Mixpeek`` client takes it."""
        return f"{self.base_url}/v1"

    def headers(self) -> dict[str, str]:
        """The headers of a request to ``/v1`` with the handle's key and namespace."""
        return {"Authorization": f"Bearer {self.api_key}", "X-Namespace": self.namespace}

    def configuration(self) -> Any:
        """A ready ``mixpeek.Configuration`` (the SDK's generated client): key and namespace."""
        import mixpeek

        configuration = mixpeek.Configuration(host=self.base_url, access_token=self.api_key)
        configuration.api_key["NamespaceHeader"] = self.namespace
        return configuration

    def client(self) -> Any:
        """The SDK's high-level client, ``mixpeek.Mixpeek``, pointed at this server."""
        import mixpeek

        return mixpeek.Mixpeek(self.api_key, namespace=self.namespace, base_url=self.api_url)

    # --- state ------------------------------------------------------------------------------

    def reset(self) -> None:
        """A fresh server with the same keys: every record, the journal and faults gone."""
        self._admin("POST", "/reset")

    def snapshot(self, name: str) -> dict[str, Any]:
        saved: dict[str, Any] = self._admin("POST", "/snapshots", {"name": name})
        return saved

    def restore(self, name: str) -> None:
        self._admin("POST", f"/snapshots/{urllib.parse.quote(name, safe='')}/restore")

    def snapshots(self) -> list[dict[str, Any]]:
        listed: list[dict[str, Any]] = self._admin("GET", "/snapshots")["results"]
        return listed

    def delete_snapshot(self, name: str) -> None:
        self._admin("DELETE", f"/snapshots/{urllib.parse.quote(name, safe='')}")

    def seed(self, fixture: dict[str, Any] | str | Path) -> dict[str, Any]:
        """Load a fixture (a document, or a JSON or YAML file) into the server."""
        if not isinstance(fixture, dict):
            text = Path(fixture).read_text()
            if str(fixture).endswith((".yaml", ".yml")):
                import yaml

                fixture = yaml.safe_load(text)
            else:
                fixture = json.loads(text)
        loaded: dict[str, Any] = self._admin("POST", "/seed", fixture)
        return loaded

    # --- the journal ------------------------------------------------------------------------

    def requests(
        self,
        *,
        method: str | None = None,
        path: str | None = None,
        status: int | None = None,
        namespace: str | None = None,
        since: datetime | str | None = None,
        limit: int | None = None,
    ) -> list[dict[str, Any]]:
        """Requests to ``/v1`` that match, newest first."""
        query = _filters(method, path, status, namespace, since)
        if limit is not None:
            query["limit"] = limit
        found: list[dict[str, Any]] = self._admin(
            "GET", "/requests?" + urllib.parse.urlencode(query)
        )["results"]
        return found

    def count(
        self,
        *,
        method: str | None = None,
        path: str | None = None,
        status: int | None = None,
        namespace: str | None = None,
        since: datetime | str | None = None,
    ) -> int:
        """How many requests to ``/v1`` match (a verify in one call)."""
        counted: int = self._admin(
            "POST", "/requests/count", _filters(method, path, status, namespace, since)
        )["count"]
        return counted

    def clear_requests(self) -> None:
        self._admin("DELETE", "/requests")

    # --- faults -----------------------------------------------------------------------------

    def fault(self, **rule: Any) -> dict[str, Any]:
        """Add a fault or latency rule (CONTRACT.md D31); the rule, with its ``fault_id``."""
        added: dict[str, Any] = self._admin("POST", "/faults", rule)
        return added

    def faults(self) -> list[dict[str, Any]]:
        listed: list[dict[str, Any]] = self._admin("GET", "/faults")["results"]
        return listed

    def delete_fault(self, fault_id: str) -> None:
        self._admin("DELETE", f"/faults/{urllib.parse.quote(fault_id, safe='')}")

    def clear_faults(self) -> None:
        self._admin("DELETE", "/faults")

    # --- the clock --------------------------------------------------------------------------

    def clock(self) -> dict[str, Any]:
        read: dict[str, Any] = self._admin("GET", "/clock")
        return read

    def freeze(self, at: datetime | str | None = None) -> dict[str, Any]:
        """Stop the clock, where it is or at ``at``."""
        change: dict[str, Any] = {"freeze": True}
        if at is not None:
            change["set"] = _rfc3339(at)
        return self._clock(change)

    def unfreeze(self) -> dict[str, Any]:
        return self._clock({"freeze": False})

    def set_clock(self, at: datetime | str) -> dict[str, Any]:
        return self._clock({"set": _rfc3339(at)})

    def advance(self, seconds: float) -> dict[str, Any]:
        """Move the clock forward; the syncs this makes due have started when it returns."""
        return self._clock({"advance_seconds": seconds})

    def _clock(self, change: dict[str, Any]) -> dict[str, Any]:
        moved: dict[str, Any] = self._admin("POST", "/clock", change)
        return moved

    # --- HTTP -------------------------------------------------------------------------------

    def _admin(self, method: str, path: str, body: Any = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(  # noqa: S310 (the handle's own http(s) address)
            f"{self.base_url}/_mock{path}",
            data=data,
            method=method,
            headers={
                "Authorization": f"Bearer {self.admin_token}",
                **({"Content-Type": "application/json"} if data is not None else {}),
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310
                return json.loads(response.read())
        except urllib.error.HTTPError as exc:
            raw = exc.read()
            try:
                answer: Any = json.loads(raw)
            except ValueError:
                answer = raw.decode(errors="replace")
            raise MockAdminError(exc.code, answer) from None
