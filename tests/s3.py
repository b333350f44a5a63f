"""A real S3 wire protocol on loopback for the engine's tests: moto's server, as its own process.

    def test_something(s3: S3Store, api: Api) -> None:
        bucket = s3.new_bucket()                      # a fresh, uniquely named bucket
        s3.put(bucket, "media/in/a.mp4", b"...")
        connection = api.ok("POST", CONNECTIONS, json=s3.connection_body("store"))
        ...
        job = wait_for_run(api, sync)                 # the sync's run has ended

One server per test session (starting one takes about a second); each test works in buckets of
its own, so tests never see each other's files. Storage is reached only on 127.0.0.1, which the
tests' egress policy (loopback) allows.
"""

import secrets
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from tests.server_process import free_port

MOTO_SERVER = str(Path(sys.executable).with_name("moto_server"))
ACCESS_KEY = "moto-access-key"
SECRET_KEY = "moto-secret-key"


class S3Store:
    def __init__(self, url: str) -> None:
        self.url = url
        self.client = boto3.client(
            "s3",
            endpoint_url=url,
            region_name="us-east-1",
            aws_access_key_id=ACCESS_KEY,
            aws_secret_access_key=SECRET_KEY,
        )

    def new_bucket(self, prefix: str = "bkt") -> str:
        name = f"{prefix}-{secrets.token_hex(6)}"
        self.client.create_bucket(Bucket=name)
        return name

    def put(self, bucket: str, key: str, body: bytes, **extra: Any) -> None:
        self.client.put_object(Bucket=bucket, Key=key, Body=body, **extra)

    def delete(self, bucket: str, key: str) -> None:
        self.client.delete_object(Bucket=bucket, Key=key)

    def connection_body(self, name: str, **overrides: Any) -> dict[str, Any]:
        """A create-connection body for this store (saved without a connection test)."""
        return {
            "name": name,
            "provider_type": "s3",
            "provider_config": {
                "credentials": {
                    "type": "access_key",
                    "access_key_id": ACCESS_KEY,
                    "secret_access_key": SECRET_KEY,
                },
                "region": "us-east-1",
                "endpoint_url": self.url,
            },
            "test_before_save": False,
            **overrides,
        }


@pytest.fixture(scope="session")
def s3() -> Iterator[S3Store]:
    port = free_port()
    process = subprocess.Popen(
        [MOTO_SERVER, "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(url, timeout=1).close()
                break
            except urllib.error.HTTPError:
                break  # it answers: that is all we wait for
            except OSError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise RuntimeError("moto's S3 server did not start") from None
                time.sleep(0.1)
        yield S3Store(url)
    finally:
        process.terminate()
        process.wait(timeout=10)


def wait_for_run(api: Any, sync: dict[str, Any], *, timeout: float = 30.0) -> dict[str, Any]:
    """Wait until the sync's run lock is released; the sync record as it then is."""
    path = f"/v1/buckets/{sync['bucket_id']}/syncs/{sync['sync_config_id']}"
    deadline = time.monotonic() + timeout
    while True:
        record: dict[str, Any] = api.ok("GET", path)
        if not record["locked"]:
            return record
        if time.monotonic() > deadline:
            raise AssertionError(f"the run did not end within {timeout} s: {record}")
        time.sleep(0.05)


def trigger_and_wait(
    api: Any, sync: dict[str, Any], *, full_sync: bool = False, timeout: float = 30.0
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Trigger a run and wait for its end: (the trigger's answer, the sync record after)."""
    path = f"/v1/buckets/{sync['bucket_id']}/syncs/{sync['sync_config_id']}/trigger"
    answer = api.ok("POST", path + ("?full_sync=true" if full_sync else ""))
    return answer, wait_for_run(api, sync, timeout=timeout)
