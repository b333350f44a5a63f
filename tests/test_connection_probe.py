"""``test_before_save: true`` really talks to the store: a real S3-compatible server (moto's,
run as its own process, tests/s3.py) is reached and the connection saved; refusals are covered in
tests/test_resources.py and tests/test_egress.py."""

import pytest

from tests.conftest import Api, s3_connection_body
from tests.s3 import S3Store


@pytest.mark.e2e
def test_a_reachable_s3_compatible_store_passes_the_test_and_is_saved(
    api: Api, s3: S3Store
) -> None:
    body = s3_connection_body("moto", endpoint_url=s3.url, test_before_save=True)
    body["provider_config"]["use_ssl"] = False

    created = api.ok("POST", "/v1/organizations/connections", json=body)

    assert created["provider_config"]["endpoint_url"] == s3.url
    assert created["provider_config"]["credentials"] == {"type": "access_key"}
    assert api.ok("GET", f"/v1/organizations/connections/{created['connection_id']}") == created
