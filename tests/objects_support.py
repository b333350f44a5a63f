"""Syncs against moto's S3 server, and their objects read back through the objects API.

def test_something(store: Store) -> None:
    store.put("media/in/a.mp4", b"...")
    sync = store.make_sync()                     # source_path "<s3 bucket>/media/in"
    store.run(sync)                              # trigger, wait for the run's end
    objects = store.objects()                    # every object of the bucket, newest first
"""

import time
from dataclasses import dataclass
from typing import Any

import pytest

from tests.conftest import Api
from tests.s3 import S3Store, trigger_and_wait

INCREMENTAL_SLACK_SECONDS = 2.1
VIDEO_SCHEMA = {"properties": {"video": {"type": "video"}}}


@dataclass
class Store:
    """One S3 bucket of moto's, one connection to it, and one bucket of the mock's."""

    api: Api
    s3: S3Store
    source: str
    connection: dict[str, Any]
    bucket: dict[str, Any]

    @property
    def objects_path(self) -> str:
        return f"/v1/buckets/{self.bucket['bucket_id']}/objects"

    def put(self, key: str, body: bytes, **extra: Any) -> None:
        self.s3.put(self.source, key, body, **extra)

    def settle(self) -> None:
        """Wait until the files put so far are older than the incremental cut of a run that
        starts now (D20: S3 times are whole seconds, and a run reads what changed since one
        second before the last run's start)."""
        time.sleep(INCREMENTAL_SLACK_SECONDS)

    def make_bucket(self, name: str, schema: dict[str, Any] | None = None) -> dict[str, Any]:
        body = {"bucket_name": name, "bucket_schema": schema or VIDEO_SCHEMA}
        return self.api.ok("POST", "/v1/buckets", json=body)

    def make_sync(
        self, source_path: str | None = None, bucket: dict[str, Any] | None = None, **fields: Any
    ) -> dict[str, Any]:
        body = {
            "connection_id": self.connection["connection_id"],
            "source_path": source_path or f"{self.source}/media/in",
            **fields,
        }
        bucket_id = (bucket or self.bucket)["bucket_id"]
        return self.api.ok("POST", f"/v1/buckets/{bucket_id}/syncs", json=body)

    def run(self, sync: dict[str, Any], *, full_sync: bool = False) -> dict[str, Any]:
        """Trigger a run and wait for its end; the sync record after it. The run must have
        completed (a failed run fails the test)."""
        answer, record = trigger_and_wait(self.api, sync, full_sync=full_sync)
        assert answer["status"] == "running", answer
        assert record["last_error"] is None, record
        return record

    def objects(self, bucket: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        """Every object of the bucket, as the list answers them (one page of up to 1000)."""
        bucket_id = (bucket or self.bucket)["bucket_id"]
        page = self.api.ok("GET", f"/v1/buckets/{bucket_id}/objects", params={"page_size": 1000})
        assert page["pagination"]["total"] == len(page["results"])
        results: list[dict[str, Any]] = page["results"]
        return results

    def by_key(self, bucket: dict[str, Any] | None = None) -> dict[str, dict[str, Any]]:
        """Every object of the bucket by its source key (a key never has two objects)."""
        objects = self.objects(bucket)
        keyed = {blob_of(item)["properties"]["source_key"]: item for item in objects}
        assert len(keyed) == len(objects), "a source key has two objects"
        return keyed

    def keys(self, bucket: dict[str, Any] | None = None) -> set[str]:
        return set(self.by_key(bucket))


def blob_of(record: dict[str, Any]) -> dict[str, Any]:
    (blob,) = record["blobs"]
    result: dict[str, Any] = blob
    return result


@pytest.fixture
def store(api: Api, s3: S3Store) -> Store:
    source = s3.new_bucket("src")
    connection = api.ok("POST", "/v1/organizations/connections", json=s3.connection_body("store"))
    bucket = api.ok(
        "POST", "/v1/buckets", json={"bucket_name": "videos", "bucket_schema": VIDEO_SCHEMA}
    )
    return Store(api=api, s3=s3, source=source, connection=connection, bucket=bucket)
