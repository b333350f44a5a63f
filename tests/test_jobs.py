"""Sync jobs (CONTRACT.md D23), from real runs against moto's S3 server.

Every run is a job: ``running`` from the trigger on, then ``completed``, ``failed`` or
``interrupted``; its counters and progress are read back through ``POST …/jobs`` and
``GET …/jobs/{id}``, and every answer parses through the official SDK's models.
"""

from datetime import datetime
from typing import Any

import mixpeek

from app.engine.leases import MSG_UNLOCKED
from tests.conftest import Api
from tests.s3 import S3Store
from tests.sync_runs import SourceSync, silent_endpoint, wait_until

FILES = {"a.txt": b"alpha", "b.txt": b"bravo!", "c/d.txt": b"charlie", "e.bin": b"\x00" * 100}


def sdk_job(job: dict[str, Any]) -> mixpeek.SyncJobModel:
    parsed = mixpeek.SyncJobModel.from_dict(job)
    assert parsed is not None
    assert parsed.sync_job_id == job["sync_job_id"]
    return parsed


def when(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def test_a_trigger_makes_a_running_job_that_completes_with_its_counts(
    api: Api, s3: S3Store
) -> None:
    source = SourceSync.create(api, s3, FILES)
    answer = source.trigger()
    assert answer["status"] == "running"
    # The engine process starts at the first trigger: the job is running before it ends.
    first = source.job(answer["sync_job_id"])
    assert first["status"] in ("running", "completed")
    assert first["trigger"] == "manual"
    sdk_job(first)

    source.wait()
    job = source.job(answer["sync_job_id"])
    assert job["status"] == "completed"
    assert job["phase"] == "completed"
    assert job["trigger"] == "manual"
    assert job["sync_config_id"] == source.sync["sync_config_id"]
    assert job["namespace_id"] == source.sync["namespace_id"]
    assert job["internal_id"] == source.sync["internal_id"]
    assert job["sync_job_id"].startswith("job_")
    assert (job["total_files"], job["files_synced"], job["files_verified"]) == (4, 4, 0)
    assert job["files_failed"] == 0
    assert job["progress_percent"] == 100
    assert job["throughput_files_per_min"] > 0
    assert job["error"] is None
    assert job["lag_seconds"] is None  # only a running job lags
    assert job["metadata"] == {
        "full_sync": False,
        "bytes_synced": sum(len(body) for body in FILES.values()),
        "batches_created": 1,
    }
    assert when(job["started_at"]) <= when(job["completed_at"]) <= when(job["updated_at"])
    parsed = sdk_job(job)
    assert parsed.status == mixpeek.SyncJobStatus.COMPLETED
    assert parsed.trigger == mixpeek.SyncJobTrigger.MANUAL

    # A full run reads every file again and finds each one already there: verified.
    again, _ = source.run(full_sync=True)
    job = source.job(again["sync_job_id"])
    assert (job["total_files"], job["files_synced"], job["files_verified"]) == (4, 0, 4)
    assert job["progress_percent"] == 100
    assert job["throughput_files_per_min"] == 0  # nothing was written
    assert job["metadata"]["full_sync"] is True


def test_jobs_are_listed_newest_first_with_pages_and_a_status_filter(api: Api, s3: S3Store) -> None:
    source = SourceSync.create(api, s3, {"a.txt": b"a"})
    ids = [source.run()[0]["sync_job_id"], source.run(full_sync=True)[0]["sync_job_id"]]
    # The source bucket goes away: the third run fails.
    source.s3.delete(source.source_bucket, "media/a.txt")
    source.s3.client.delete_bucket(Bucket=source.source_bucket)
    ids.append(source.run()[0]["sync_job_id"])

    listed = source.jobs()
    assert [job["sync_job_id"] for job in listed["results"]] == ids[::-1]
    assert [job["status"] for job in listed["results"]] == ["failed", "completed", "completed"]
    assert listed["total"] == 3
    assert listed["pagination"]["total"] == 3
    assert listed["results"][1] == source.job(ids[1])  # a listed job is the job GET shows
    parsed = mixpeek.SyncJobListResponse.from_dict(listed)
    assert parsed is not None
    assert len(parsed.results) == 3

    first = source.jobs(limit=2)
    assert [job["sync_job_id"] for job in first["results"]] == [ids[2], ids[1]]
    assert first["pagination"]["total_pages"] == 2
    assert first["pagination"]["next_page"] is not None
    second = source.jobs(page=2, page_size=2)
    assert [job["sync_job_id"] for job in second["results"]] == [ids[0]]
    assert second["pagination"]["next_page"] is None

    failed = source.jobs({"status": "failed"})
    assert [job["sync_job_id"] for job in failed["results"]] == [ids[2]]
    assert failed["total"] == 1
    completed = source.jobs({"status": "completed"})
    assert [job["sync_job_id"] for job in completed["results"]] == [ids[1], ids[0]]
    assert source.jobs({"status": "interrupted"})["total"] == 0
    # The SDK's own request model, as it sends it.
    body = mixpeek.ListSyncJobsRequest(status=mixpeek.SyncJobStatus.FAILED).to_dict()
    assert source.jobs(body)["total"] == 1


def test_job_list_bodies(api: Api, s3: S3Store) -> None:
    source = SourceSync.create(api, s3)
    path = f"{source.path}/jobs"
    empty = api.post(path, content=b"", headers={"Content-Type": "application/json"})
    assert empty.status_code == 200, empty.text
    assert empty.json()["total"] == 0
    assert api.post(path, json={"status": "FAILED"}).status_code == 200  # any case
    assert api.post(path, json={"status": "done"}).status_code == 422
    for ignored in ({"status": None, "extra": 1}, {"limit": 1}):  # README, "List bodies"
        assert api.post(path, json=ignored).status_code == 200, ignored
    assert api.post(path, params={"limit": 0}).status_code == 422


def test_a_job_of_another_sync_is_not_found(api: Api, s3: S3Store) -> None:
    one = SourceSync.create(api, s3, {"a.txt": b"1"})
    other = SourceSync.create(api, s3, {"b.txt": b"2"})
    job_id = one.run()[0]["sync_job_id"]
    other.run()

    foreign = api.get(f"{other.path}/jobs/{job_id}")
    ghost = api.get(f"{other.path}/jobs/job_never_existed_000000")
    for response in (foreign, ghost):
        assert response.status_code == 404, response.text
        assert response.json()["error"]["type"] == "NotFoundError"
    assert foreign.json()["error"]["message"].replace(job_id, "<id>") == ghost.json()["error"][
        "message"
    ].replace("job_never_existed_000000", "<id>")
    # The job's own sync, but under another bucket: the sync is not found there.
    other_bucket = other.sync["bucket_id"]
    response = api.get(f"/v1/buckets/{other_bucket}/syncs/{one.sync['sync_config_id']}/jobs")
    assert response.status_code == 405  # GET is not the list's method
    response = api.get(
        f"/v1/buckets/{other_bucket}/syncs/{one.sync['sync_config_id']}/jobs/{job_id}"
    )
    assert response.status_code == 404
    assert [job["sync_job_id"] for job in one.jobs()["results"]] == [job_id]


def test_a_run_against_a_missing_bucket_is_a_failed_job(api: Api, s3: S3Store) -> None:
    source = SourceSync.create(api, s3, source_bucket="no-such-bucket-here")
    answer, record = source.run()
    job = source.job(answer["sync_job_id"])
    assert job["status"] == "failed"
    assert job["phase"] == "failed"
    assert job["error"].startswith("NoSuchBucket: ")
    assert job["completed_at"] is not None
    assert job["progress_percent"] == 0
    assert record["last_error"] == job["error"]
    assert record["consecutive_failures"] == 1
    sdk_job(job)


def test_a_run_against_an_endpoint_nothing_listens_on_is_a_failed_job(
    api: Api, s3: S3Store
) -> None:
    connection = api.ok(
        "POST",
        "/v1/organizations/connections",
        json={
            **s3.connection_body("closed-port"),
            "provider_config": {
                **s3.connection_body("x")["provider_config"],
                "endpoint_url": "http://127.0.0.1:9",
            },
        },
    )
    source = SourceSync.create(api, s3, source_bucket="anything", connection=connection)
    answer, record = source.run(timeout=90)
    job = source.job(answer["sync_job_id"])
    assert job["status"] == "failed"
    assert job["error"].startswith("EndpointUnreachable: ")
    assert record["last_error"] == job["error"]
    assert record["consecutive_failures"] == 1


def test_five_failed_runs_make_the_sync_failed_until_it_is_resumed(api: Api, s3: S3Store) -> None:
    name = f"later-{s3.new_bucket()}"  # a bucket name of our own that does not exist yet
    source = SourceSync.create(api, s3, source_bucket=name)
    for count in range(1, 6):
        _, record = source.run()
        assert record["consecutive_failures"] == count
        assert record["status"] == ("FAILED" if count == 5 else "ACTIVE")
    assert [job["status"] for job in source.jobs()["results"]] == ["failed"] * 5

    refused = api.post(f"{source.path}/trigger")
    assert refused.status_code == 400, refused.text
    assert refused.json()["error"]["type"] == "BadRequestError"
    assert source.jobs()["total"] == 5  # no job for a refused trigger

    resumed = api.ok("POST", f"{source.path}/resume")
    assert (resumed["status"], resumed["consecutive_failures"]) == ("ACTIVE", 0)
    s3.client.create_bucket(Bucket=name)
    s3.put(name, "media/a.txt", b"at last")
    answer, record = source.run()
    assert source.job(answer["sync_job_id"])["status"] == "completed"
    assert (record["consecutive_failures"], record["last_error"]) == (0, None)


def test_unlock_interrupts_the_running_job(api: Api, s3: S3Store) -> None:
    with silent_endpoint() as endpoint:
        body = s3.connection_body("silent")
        body["provider_config"]["endpoint_url"] = endpoint
        connection = api.ok("POST", "/v1/organizations/connections", json=body)
        source = SourceSync.create(api, s3, source_bucket="silent", connection=connection)
        job_id = source.trigger()["sync_job_id"]
        # The run waits on the endpoint, in the discovering phase.
        running = wait_until(lambda: (job := source.job(job_id))["phase"] == "discovering" and job)
        assert running["status"] == "running"
        assert running["completed_at"] is None
        assert running["progress_percent"] == 0
        assert running["lag_seconds"] >= 0
        assert source.jobs({"status": "running"})["total"] == 1
        sdk_job(running)

        unlocked = api.ok("POST", f"{source.path}/unlock")
        assert unlocked["was_locked"] is True
        job = source.job(job_id)
        assert job["status"] == "interrupted"
        assert job["error"] == MSG_UNLOCKED
        assert job["completed_at"] is not None
        assert job["lag_seconds"] is None
        assert source.record()["locked"] is False
        sdk_job(job)


def test_progress_rises_while_a_run_moves_two_thousand_files(api: Api, s3: S3Store) -> None:
    source = SourceSync.create(api, s3, batch_size=20)
    source.put_many(2000)
    job_id = source.trigger()["sync_job_id"]
    seen: list[tuple[float, int]] = []
    while True:
        job = source.job(job_id)
        seen.append((job["progress_percent"], job["files_synced"]))
        if job["status"] != "running":
            break
        assert job["completed_at"] is None
    assert job["status"] == "completed"
    assert (job["total_files"], job["files_synced"], job["progress_percent"]) == (2000, 2000, 100)
    percents = [percent for percent, _ in seen]
    assert percents == sorted(percents), "progress never goes back"
    between = {percent for percent in percents if 0 < percent < 100}
    assert len(between) >= 3, f"progress seen while running: {sorted(between)}"
    assert job["metadata"]["batches_created"] == 100
