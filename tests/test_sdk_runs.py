"""The official SDK drives all 15 methods of ``BucketSyncsApi`` and the object reads of
``BucketObjectsApi`` against a real server process whose engine syncs from moto's S3 server:
the path a developer's code takes (create a sync, trigger it, watch its job, read the objects
it made, deal with the files that failed).

Every answer is parsed by the SDK into its own models, unmodified (mixpeek==1.3.783).
"""

import importlib
import time
from collections.abc import Iterator
from types import ModuleType
from typing import Any

import pytest

from tests.conftest import API_KEY
from tests.s3 import S3Store
from tests.server_process import ServerProcess

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def mixpeek() -> ModuleType:
    return importlib.import_module("mixpeek")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    with ServerProcess(tmp_path_factory.mktemp("sdk-runs") / "mock.db") as process:
        yield process


@pytest.fixture(scope="module")
def client(mixpeek: ModuleType, server: ServerProcess) -> Iterator[Any]:
    cfg = mixpeek.Configuration(host=server.url, access_token=API_KEY)
    cfg.api_key["NamespaceHeader"] = "default"
    with mixpeek.ApiClient(cfg) as api_client:
        yield api_client


def wait_for_job(syncs: Any, bucket: str, sync_id: str, job_id: str) -> Any:
    deadline = time.monotonic() + 60
    while True:
        job = syncs.get_sync_job_buckets_id_config(bucket, sync_id, job_id)
        if job.status != "running":
            return job
        assert time.monotonic() < deadline, job
        time.sleep(0.1)


def test_the_sdk_runs_a_sync_end_to_end(mixpeek: ModuleType, client: Any, s3: S3Store) -> None:
    store = s3.new_bucket()
    for index in range(5):
        s3.put(store, f"in/clip{index}.mp4", b"clip %d" % index)
    # Cannot be read (InvalidObjectState): it becomes a dead letter.
    s3.put(store, "in/cold.mp4", b"cold", StorageClass="GLACIER")
    buckets = mixpeek.BucketsApi(client)
    bucket = buckets.create_bucket(
        mixpeek.BucketCreateRequest(
            bucket_name="sdk_runs",
            bucket_schema=mixpeek.BucketSchemaInput.from_dict(
                {"properties": {"content": {"type": "video"}}}
            ),
        )
    ).bucket_id
    connection = mixpeek.OrganizationConnectionsApi(client).create_storage_connection_organizations(
        mixpeek.StorageConnectionCreateRequest.from_dict(s3.connection_body("sdk-store"))
    )
    syncs = mixpeek.BucketSyncsApi(client)

    # 1. create, 2. get, 3. list, 4. update
    sync = syncs.create_sync_configuration_buckets(
        bucket,
        mixpeek.SyncCreateRequest(
            connection_id=connection.connection_id, source_path=f"{store}/in", batch_size=2
        ),
    )
    sync_id = sync.sync_config_id
    assert syncs.get_sync_configuration_buckets_id_config(bucket, sync_id) == sync
    assert syncs.list_sync_configurations_buckets(bucket).results == [sync]
    updated = syncs.update_sync_configuration_buckets_id_config(
        bucket, sync_id, mixpeek.SyncUpdateRequest(description="from the SDK")
    )
    assert updated.description == "from the SDK"

    # 5. pause and 6. resume
    paused = syncs.pause_sync_configuration_buckets_id_config(bucket, sync_id)
    assert isinstance(paused, mixpeek.SyncConfigurationModel)
    assert (paused.paused, paused.status) == (True, mixpeek.TaskStatusEnum.SUSPENDED)
    with pytest.raises(mixpeek.exceptions.BadRequestException) as refused:
        syncs.trigger_sync_configuration_buckets_id_config(bucket, sync_id)
    assert refused.value.data.error.code == "sync_paused"
    resumed = syncs.resume_sync_configuration_buckets_id_config(bucket, sync_id)
    assert (resumed.paused, resumed.status) == (False, mixpeek.TaskStatusEnum.PENDING)

    # 7. trigger, 8. get a job, 9. list jobs
    started = syncs.trigger_sync_configuration_buckets_id_config(bucket, sync_id)
    assert started["status"] == "running"
    job = wait_for_job(syncs, bucket, sync_id, started["sync_job_id"])
    assert isinstance(job, mixpeek.SyncJobModel)
    assert (job.status, job.trigger) == ("completed", "manual")
    assert (job.total_files, job.files_synced, job.files_failed) == (6, 5, 1)
    assert job.progress_percent == 100
    jobs = syncs.list_sync_jobs_buckets_id_config(bucket, sync_id)
    assert isinstance(jobs, mixpeek.SyncJobListResponse)
    assert [listed.sync_job_id for listed in jobs.results] == [job.sync_job_id]

    # 10. metrics
    metrics = syncs.get_sync_metrics_buckets_id_config(bucket, sync_id)
    assert isinstance(metrics, mixpeek.SyncMetricsResponse)
    assert (metrics.total_files_synced, metrics.total_files_failed) == (5, 1)
    assert metrics.sync_run_counter == 1
    assert metrics.batches_created == 3
    assert metrics.dlq_total == 1

    # The objects it made, through BucketObjectsApi.
    objects_api = mixpeek.BucketObjectsApi(client)
    objects = objects_api.list_objects_buckets(bucket)
    assert isinstance(objects, mixpeek.ListObjectsResponse)
    names = sorted(obj.blobs[0].details.filename for obj in objects.results)
    assert names == [f"clip{index}.mp4" for index in range(5)]
    first = objects.results[0]
    got = objects_api.get_object_buckets(bucket, first.object_id)
    # A list leaves document_count out (null); a single read counts it (0: no collections).
    assert got.model_copy(update={"document_count": None}) == first
    objects_api.delete_object_buckets(bucket, first.object_id)
    assert len(objects_api.list_objects_buckets(bucket).results) == 4

    # 11. the dead letters, 12. requeue, 13. mark failed
    letters = syncs.list_dlq_entries_buckets_id_syncs_config(bucket, sync_id)
    assert isinstance(letters, mixpeek.DLQListResponse)
    (letter,) = letters.results
    assert letter.source_object_id == "in/cold.mp4"
    assert letter.error_type == "download_failed"
    assert "InvalidObjectState" in letter.error_message
    assert letter.max_retries_reached is True
    requeued = syncs.requeue_dlq_entries_buckets_id_syncs_config(bucket, sync_id)
    assert isinstance(requeued, mixpeek.BulkRequeueDLQResponse)
    assert requeued.requeued == 1
    marked = syncs.bulk_mark_dlq_permanently_failed_buckets_id_syncs_config(
        bucket, sync_id, mixpeek.BulkMarkDLQRequest(error_types=["download_failed"])
    )
    assert isinstance(marked, mixpeek.BulkMarkDLQResponse)
    assert marked.updated == 1

    # 14. unlock (nothing holds the lock now)
    unlocked = syncs.force_unlock_sync_configuration_buckets_id_config(bucket, sync_id)
    assert unlocked["was_locked"] is False

    # 15. delete: the sync, its jobs and dead letters go
    deleted = syncs.delete_sync_configuration_buckets_id_config(bucket, sync_id)
    assert deleted == {"success": True, "sync_config_id": sync_id}
    with pytest.raises(mixpeek.exceptions.NotFoundException):
        syncs.get_sync_job_buckets_id_config(bucket, sync_id, job.sync_job_id)
