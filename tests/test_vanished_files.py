"""A file deleted between the listing and its reading becomes a dead letter, and the run goes
on (D22, D25): the real race, not a stand-in. A run that reads one file at a time, a batch of
one at a time, is still early in a long listing when the last file is deleted."""

import time
from typing import Any

from tests.conftest import Api
from tests.s3 import S3Store, wait_for_run

FILES = 300


def test_a_file_deleted_after_the_listing_is_a_dead_letter_and_the_run_completes(
    api: Api, s3: S3Store
) -> None:
    store = s3.new_bucket()
    for index in range(FILES):
        s3.put(store, f"in/f{index:03}.txt", b"file %d" % index)
    last = f"in/f{FILES - 1:03}.txt"
    connection = api.ok("POST", "/v1/organizations/connections", json=s3.connection_body("s"))
    sync = api.make_sync(
        api.make_bucket(), connection, source_path=f"{store}/in", batch_size=1, sync_concurrency=1
    )
    path = api.sync_path(sync)
    job_id = api.ok("POST", f"{path}/trigger")["sync_job_id"]
    deadline = time.monotonic() + 30
    while True:  # the second listing is in hand once the first file is written
        job: dict[str, Any] = api.ok("GET", f"{path}/jobs/{job_id}")
        if job["phase"] == "downloading" and job["files_synced"] > 0:
            break
        assert time.monotonic() < deadline, job
        time.sleep(0.01)
    assert job["files_synced"] < FILES - 10, "the run was too quick to race with"

    s3.delete(store, last)
    wait_for_run(api, sync, timeout=60)

    job = api.ok("GET", f"{path}/jobs/{job_id}")
    assert job["status"] == "completed"
    assert (job["total_files"], job["files_synced"], job["files_failed"]) == (FILES, FILES - 1, 1)
    (letter,) = api.ok("POST", f"{path}/dlq")["results"]
    assert letter["source_object_id"] == last
    assert letter["source_path"] == f"{store}/{last}"
    assert letter["error_type"] == "download_failed"
    assert letter["error_message"].startswith("NoSuchKey")
    assert (letter["retry_count"], letter["max_retries_reached"]) == (3, True)
    assert letter["sync_job_id"] == job_id
    record = api.ok("GET", path)
    assert (record["total_files_synced"], record["total_files_failed"]) == (FILES - 1, 1)
    keys = {
        obj["blobs"][0]["properties"]["source_key"]
        for obj in api.ok("GET", f"/v1/buckets/{sync['bucket_id']}/objects?page_size=1000")[
            "results"
        ]
    }
    assert len(keys) == FILES - 1
    assert last not in keys
