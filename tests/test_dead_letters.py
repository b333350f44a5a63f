"""Dead letters (CONTRACT.md D25), from real runs against moto's S3 server.

A file that cannot be read is made with what S3 itself offers: an object in the GLACIER storage
class, whose GetObject answers ``InvalidObjectState`` (as AWS does for an archived object).
Putting it again in the STANDARD class "restores" it.
"""

from typing import Any

import mixpeek

from tests.conftest import Api
from tests.s3 import S3Store
from tests.sync_runs import SourceSync

FILES = {"a.txt": b"alpha", "b.txt": b"bravo"}


def with_archived_file(api: Api, s3: S3Store, **fields: Any) -> SourceSync:
    source = SourceSync.create(api, s3, FILES, **fields)
    source.put("cold.txt", b"frozen", StorageClass="GLACIER")
    return source


def only_entry(source: SourceSync, body: dict[str, Any] | None = None) -> dict[str, Any]:
    listed = source.dlq(body)
    assert listed["total"] == 1, listed
    assert len(listed["results"]) == 1
    entry: dict[str, Any] = listed["results"][0]
    parsed = mixpeek.SyncDeadLetterObjectModel.from_dict(entry)
    assert parsed is not None
    assert parsed.dlq_id == entry["dlq_id"]
    assert mixpeek.DLQListResponse.from_dict(listed) is not None
    return entry


def test_an_unreadable_file_becomes_one_dead_letter_with_the_provider_code(
    api: Api, s3: S3Store
) -> None:
    source = with_archived_file(api, s3)
    answer, record = source.run()
    job = source.job(answer["sync_job_id"])
    assert job["status"] == "completed"  # one bad file does not fail the run
    assert (job["files_synced"], job["files_failed"]) == (2, 1)
    assert record["total_files_failed"] == 1

    entry = only_entry(source)
    assert entry["dlq_id"].startswith("dlq_")
    assert entry["error_type"] == "download_failed"
    assert entry["error_message"].startswith("InvalidObjectState: ")
    assert entry["source_object_id"] == "media/cold.txt"
    assert entry["source_path"] == f"{source.source_bucket}/media/cold.txt"
    assert entry["sync_job_id"] == answer["sync_job_id"]
    assert entry["max_retries_reached"] is True
    assert 1 <= entry["retry_count"] <= 3
    assert entry["first_seen_at"] == entry["last_seen_at"]
    assert (entry["requeued_at"], entry["resolved_at"], entry["disposal_reason"]) == (
        None,
        None,
        None,
    )
    assert entry["permanently_failed"] is False
    for key in ("sync_config_id", "bucket_id", "namespace_id", "internal_id"):
        assert entry[key] == source.sync[key]

    # An exhausted entry waits for a requeue: a later run does not read the file again.
    source.run(full_sync=True)
    assert only_entry(source) == entry


def test_requeue_retries_the_file_and_one_entry_per_key_records_it(api: Api, s3: S3Store) -> None:
    source = with_archived_file(api, s3)
    source.run()
    before = only_entry(source)

    assert source.requeue() == 1
    requeued = only_entry(source)
    assert (requeued["max_retries_reached"], requeued["retry_count"]) == (False, 0)
    assert requeued["requeued_at"] is not None
    assert source.dlq({"only_max_retries": True})["total"] == 0
    assert source.requeue() == 0  # nothing is exhausted any more

    # Still unreadable: the next run fails it again, on the same entry.
    answer, _ = source.run()
    assert source.job(answer["sync_job_id"])["files_failed"] == 1
    again = only_entry(source)
    assert again["dlq_id"] == before["dlq_id"]
    assert again["first_seen_at"] == before["first_seen_at"]
    assert again["last_seen_at"] > before["last_seen_at"]
    assert again["sync_job_id"] == answer["sync_job_id"]
    assert again["max_retries_reached"] is True
    assert 1 <= again["retry_count"] <= 3

    # Restored, requeued: the next run reads it and resolves the entry.
    source.put("cold.txt", b"thawed")
    assert source.requeue({"error_types": ["InvalidObjectState"]}) == 1
    answer, _ = source.run()
    job = source.job(answer["sync_job_id"])
    assert (job["files_synced"], job["files_failed"]) == (1, 0)
    resolved = only_entry(source)
    assert resolved["resolved_at"] is not None
    assert resolved["max_retries_reached"] is False
    assert source.dlq({"only_max_retries": True})["total"] == 0
    assert source.metrics()["dlq_total"] == 0


def test_bulk_mark_failed_retires_entries_for_good(api: Api, s3: S3Store) -> None:
    source = with_archived_file(api, s3)
    source.run()
    assert source.mark_failed(["NoSuchKey"]) == 0  # another type: nothing
    assert source.mark_failed(["download_failed"]) == 1
    assert source.mark_failed(["download_failed"]) == 0  # already retired
    retired = only_entry(source)
    assert retired["permanently_failed"] is True
    assert retired["max_retries_reached"] is True
    assert retired["disposal_reason"] == "marked_permanently_failed"

    assert source.requeue() == 0  # never retried again, not even by a requeue
    source.put("cold.txt", b"thawed")
    answer, _ = source.run(full_sync=True)
    job = source.job(answer["sync_job_id"])
    assert (job["files_failed"], job["total_files"]) == (0, 2)  # the file is not taken
    assert only_entry(source) == retired
    assert source.metrics()["dlq_total"] == 1


def test_filters_match_the_error_type_or_the_provider_code(api: Api, s3: S3Store) -> None:
    source = with_archived_file(api, s3)
    source.run()
    for names, total in [
        (["download_failed"], 1),
        (["InvalidObjectState"], 1),
        (["NoSuchKey", "InvalidObjectState"], 1),
        (["NoSuchKey"], 0),
        (["validation_error"], 0),
        (["invalidobjectstate"], 0),  # exact, case included
        (["Invalid"], 0),  # a whole code, not a prefix of one
        (["InvalidObjectState: S3"], 0),
        ([], 1),  # an empty list filters nothing
    ]:
        assert source.dlq({"error_types": names})["total"] == total, names
    assert source.dlq({"only_max_retries": True, "error_types": ["NoSuchKey"]})["total"] == 0
    assert source.dlq({"only_max_retries": True})["total"] == 1
    assert source.requeue({"error_types": ["NoSuchKey"]}) == 0
    # The SDK's request models, as it sends them.
    body = mixpeek.ListDLQRequest(only_max_retries=True, error_types=["download_failed"])
    assert source.dlq(body.to_dict())["total"] == 1


def test_a_dlq_page_is_bounded(api: Api, s3: S3Store) -> None:
    source = SourceSync.create(api, s3)
    for index in range(3):
        source.put(f"cold-{index}.txt", b"x", StorageClass="GLACIER")
    source.run()
    assert source.dlq()["total"] == 3
    first = source.dlq(limit=2)
    assert (len(first["results"]), first["total"]) == (2, 3)
    rest = source.dlq(limit=2, offset=2)
    assert (len(rest["results"]), rest["total"]) == (1, 3)
    keys = {entry["source_object_id"] for entry in first["results"] + rest["results"]}
    assert len(keys) == 3
    assert api.post(f"{source.path}/dlq", params={"limit": 1001}).status_code == 422


def test_dlq_bodies(api: Api, s3: S3Store) -> None:
    source = SourceSync.create(api, s3)
    for path in (f"{source.path}/dlq", f"{source.path}/dlq/requeue"):
        for empty in (
            api.post(path),  # no body, no Content-Type
            api.post(path, content=b"", headers={"Content-Type": "application/json"}),
            api.post(path, json={}),
        ):
            assert empty.status_code == 200, (path, empty.text)
        for bad in (
            {"error_types": "NoSuchKey"},
            {"error_types": ["x"] * 51},
            {"error_types": ["x" * 256]},
            {"error_types": [1]},
        ):
            response = api.post(path, json=bad)
            assert response.status_code == 422, (path, bad, response.text)
    # A list ignores keys it does not define (README, "List bodies"); an action does not.
    assert api.post(f"{source.path}/dlq", json={"unknown": True}).status_code == 200
    assert api.post(f"{source.path}/dlq/requeue", json={"unknown": True}).status_code == 422
    assert api.post(f"{source.path}/dlq", json={"only_max_retries": 1}).status_code == 422

    mark = f"{source.path}/dlq/bulk-mark-failed"
    refused: list[dict[str, Any]] = [{}, {"error_types": []}, {"error_types": ["x"] * 51}]
    for bad in refused:
        response = api.post(mark, json=bad)
        assert response.status_code == 422, (bad, response.text)
    assert api.post(mark).status_code == 422  # the body is required
    assert api.ok("POST", mark, json={"error_types": ["x"] * 50}) == {"updated": 0}


def test_dead_letters_are_scoped_like_their_sync(api: Api, other_org: Api, s3: S3Store) -> None:
    source = with_archived_file(api, s3)
    source.run()
    sync_id = source.sync["sync_config_id"]
    elsewhere = api.make_bucket("elsewhere")
    api.make_namespace("another-space")
    requests: list[tuple[Api, str, dict[str, Any]]] = []
    for path in (
        f"/v1/buckets/{elsewhere['bucket_id']}/syncs/{sync_id}",  # a sync of another bucket
        source.path,
    ):
        for caller, headers in (
            (api, {"X-Namespace": "another-space"}),  # a bucket outside the namespace
            (other_org, {}),  # another organization
            (api, {}),
        ):
            if caller is api and not headers and path == source.path:
                continue  # the one rightful caller
            for action, body in (
                ("dlq", None),
                ("dlq/requeue", None),
                ("dlq/bulk-mark-failed", {"error_types": ["download_failed"]}),
                ("metrics", None),
                ("jobs", None),
            ):
                requests.append((caller, f"{path}/{action}", {"headers": headers, "json": body}))
    for caller, path, kwargs in requests:
        method = "GET" if path.endswith("metrics") else "POST"
        response = caller.request(method, path, **kwargs)
        assert response.status_code == 404, (path, kwargs, response.text)
        assert response.json()["error"]["type"] == "NotFoundError"
    entry = only_entry(source)
    assert entry["max_retries_reached"] is True  # nothing was requeued or marked
    assert entry["permanently_failed"] is False
