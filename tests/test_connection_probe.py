"""``test_before_save: true`` really talks to the store: a real S3-compatible server (moto's,
run as its own process) is reached and the connection saved; refusals are covered in
tests/test_resources.py."""

import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import Api, s3_connection_body
from tests.server_process import free_port

MOTO_SERVER = str(Path(sys.executable).with_name("moto_server"))


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
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
                    raise RuntimeError("the S3-compatible server did not start") from None
                time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.mark.e2e
def test_a_reachable_s3_compatible_store_passes_the_test_and_is_saved(
    api: Api, s3_endpoint: str
) -> None:
    body = s3_connection_body("moto", endpoint_url=s3_endpoint, test_before_save=True)
    body["provider_config"]["use_ssl"] = False

    created = api.ok("POST", "/v1/organizations/connections", json=body)

    assert created["provider_config"]["endpoint_url"] == s3_endpoint
    assert created["provider_config"]["credentials"] == {"type": "access_key"}
    assert api.ok("GET", f"/v1/organizations/connections/{created['connection_id']}") == created
