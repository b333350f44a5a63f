"""The official SDK (``mixpeek`` from PyPI), unmodified, against a real server process.

A user points the SDK at the mock with nothing but a host, a key and a namespace; every call
must parse into the SDK's own models, with the values the user sent.

The SDK is imported by the ``mixpeek`` fixture rather than at the top: importing it builds some
1,350 pydantic models (over ten seconds of CPU), which every test run would otherwise pay at
collection, even when these tests are deselected.
"""

import importlib
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from types import ModuleType
from typing import Any

import pytest

from tests.conftest import API_KEY, ServedDatabase
from tests.s3 import S3Store
from tests.server_process import ServerProcess

pytestmark = pytest.mark.e2e

S3_CONFIG = {
    "credentials": {
        "type": "access_key",
        "access_key_id": "minioadmin",
        "secret_access_key": "minioadmin",
    },
    "region": "us-east-1",
    "endpoint_url": "http://127.0.0.1:9000",
}


@pytest.fixture(scope="module")
def mixpeek() -> ModuleType:
    return importlib.import_module("mixpeek")


@pytest.fixture(scope="module")
def server(served_database: ServedDatabase) -> Iterator[ServerProcess]:
    with ServerProcess(served_database.path, database_url=served_database.url) as process:
        yield process


@pytest.fixture(scope="module")
def client(mixpeek: ModuleType, server: ServerProcess) -> Iterator[Any]:
    """Configured exactly as a user would configure it (CONTRACT.md, source 3)."""
    cfg = mixpeek.Configuration(host=server.url, access_token=API_KEY)
    cfg.api_key["NamespaceHeader"] = "default"
    with mixpeek.ApiClient(cfg) as api_client:
        yield api_client


@pytest.fixture
def namespaces(mixpeek: ModuleType, client: Any) -> Any:
    return mixpeek.NamespacesApi(client)


@pytest.fixture
def buckets(mixpeek: ModuleType, client: Any) -> Any:
    return mixpeek.BucketsApi(client)


@pytest.fixture
def connections(mixpeek: ModuleType, client: Any) -> Any:
    return mixpeek.OrganizationConnectionsApi(client)


@pytest.fixture
def syncs(mixpeek: ModuleType, client: Any) -> Any:
    return mixpeek.BucketSyncsApi(client)


@pytest.fixture
def make_bucket(mixpeek: ModuleType, buckets: Any) -> Callable[[str], Any]:
    def make(name: str) -> Any:
        return buckets.create_bucket(
            mixpeek.BucketCreateRequest(
                bucket_name=name,
                bucket_schema=mixpeek.BucketSchemaInput.from_dict(
                    {"properties": {"video": {"type": "video"}}}
                ),
            )
        )

    return make


@pytest.fixture
def make_connection(mixpeek: ModuleType, connections: Any) -> Callable[[str], Any]:
    def make(name: str) -> Any:
        return connections.create_storage_connection_organizations(
            mixpeek.StorageConnectionCreateRequest(
                name=name,
                provider_type=mixpeek.StorageProvider.S3,
                provider_config=S3_CONFIG,
                test_before_save=False,
            )
        )

    return make


def assert_recent_utc(moment: Any) -> None:
    assert isinstance(moment, datetime)
    assert moment.utcoffset() == timedelta(0)
    assert abs(datetime.now(UTC) - moment) < timedelta(minutes=5)


def assert_not_found(mixpeek: ModuleType, call: Callable[[], Any]) -> None:
    """The SDK raises its NotFoundException, with the error envelope parsed (D6)."""
    with pytest.raises(mixpeek.exceptions.NotFoundException) as raised:
        call()
    error = raised.value
    assert error.status == 404
    assert isinstance(error.data, mixpeek.ErrorResponse)
    assert error.data.status == 404
    assert error.data.error.type == "NotFoundError"


def test_namespace_create_get_list_delete(mixpeek: ModuleType, namespaces: Any) -> None:
    created = namespaces.create_namespace(
        mixpeek.CreateNamespaceRequest(namespace_name="sdk_namespace", description="from the SDK")
    )

    assert isinstance(created, mixpeek.NamespaceModel)
    assert created.namespace_name == "sdk_namespace"
    assert created.description == "from the SDK"
    assert created.namespace_id.startswith("ns_")
    assert created.bucket_count == 0
    assert_recent_utc(created.created_at)

    assert namespaces.get_namespace(created.namespace_id) == created
    assert namespaces.get_namespace("sdk_namespace") == created

    listed = namespaces.list_namespaces()
    assert isinstance(listed, mixpeek.ListNamespacesResponse)
    assert created in listed.results
    assert "default" in {namespace.namespace_name for namespace in listed.results}
    assert listed.total_count == len(listed.results)

    deleted = namespaces.delete_namespace(created.namespace_id)
    assert deleted["namespace_id"] == created.namespace_id
    assert_not_found(mixpeek, lambda: namespaces.get_namespace(created.namespace_id))
    remaining = namespaces.list_namespaces().results
    assert created.namespace_id not in {namespace.namespace_id for namespace in remaining}


def test_bucket_create_get_list_delete(
    mixpeek: ModuleType, buckets: Any, make_bucket: Callable[[str], Any]
) -> None:
    created = make_bucket("sdk_bucket")

    assert isinstance(created, mixpeek.BucketResponse)
    assert created.bucket_name == "sdk_bucket"
    assert created.bucket_id.startswith("bkt_")
    assert created.status == mixpeek.TaskStatusEnum.ACTIVE
    assert created.object_count == 0
    assert created.total_size_bytes == 0
    assert created.bucket_schema.properties["video"].type == mixpeek.BucketSchemaFieldType.VIDEO
    assert_recent_utc(created.created_at)

    assert buckets.get_bucket(created.bucket_id) == created
    assert buckets.get_bucket("sdk_bucket") == created

    listed = buckets.list_buckets()
    assert isinstance(listed, mixpeek.ListBucketsResponse)
    assert created in listed.results
    assert listed.total_count == len(listed.results)

    buckets.delete_bucket(created.bucket_id)
    assert_not_found(mixpeek, lambda: buckets.get_bucket(created.bucket_id))
    remaining = buckets.list_buckets().results
    assert created.bucket_id not in {bucket.bucket_id for bucket in remaining}


def test_connection_create_get_list_delete(
    mixpeek: ModuleType, connections: Any, make_connection: Callable[[str], Any]
) -> None:
    created = make_connection("sdk-connection")

    assert isinstance(created, mixpeek.StorageConnectionModel)
    assert created.name == "sdk-connection"
    assert created.connection_id.startswith("conn_")
    assert created.internal_id.startswith("int_")
    assert created.created_by_user_id.startswith("usr_")
    assert created.provider_type == mixpeek.StorageProvider.S3
    assert created.status == mixpeek.TaskStatusEnum.ACTIVE
    assert created.is_active is True
    config = created.provider_config.actual_instance
    assert config["endpoint_url"] == "http://127.0.0.1:9000"
    assert config["credentials"] == {"type": "access_key"}  # the secret never comes back (D14)
    assert_recent_utc(created.created_at)

    get = connections.get_storage_connection_organizations
    assert get(created.connection_id) == created
    assert get("sdk-connection") == created

    listed = connections.list_storage_connections_organizations()
    assert isinstance(listed, mixpeek.StorageConnectionListResponse)
    assert created in listed.results
    assert listed.total == len(listed.results)

    deleted = connections.delete_storage_connection_organizations(created.connection_id)
    assert deleted["connection_id"] == created.connection_id
    assert_not_found(mixpeek, lambda: get(created.connection_id))


def test_sync_create_get_list_update_delete(
    mixpeek: ModuleType,
    namespaces: Any,
    syncs: Any,
    make_bucket: Callable[[str], Any],
    make_connection: Callable[[str], Any],
) -> None:
    bucket = make_bucket("sdk_sync_bucket")
    connection = make_connection("sdk-sync-connection")

    created = syncs.create_sync_configuration_buckets(
        bucket.bucket_id,
        mixpeek.SyncCreateRequest(
            connection_id=connection.connection_id,
            source_path="media/in",
            description="camera uploads",
            metadata={"team": "video", "tier": "gold"},
        ),
    )

    assert isinstance(created, mixpeek.SyncConfigurationModel)
    assert created.sync_config_id.startswith("sync_")
    assert created.bucket_id == bucket.bucket_id
    assert created.connection_id == connection.connection_id
    assert created.namespace_id == namespaces.get_namespace("default").namespace_id
    assert created.internal_id == connection.internal_id
    assert created.created_by_user_id == connection.created_by_user_id
    assert created.source_path == "media/in"
    assert created.description == "camera uploads"
    assert created.metadata == {"team": "video", "tier": "gold"}
    assert created.sync_mode == mixpeek.SyncMode.CONTINUOUS
    assert created.status == mixpeek.TaskStatusEnum.PENDING
    assert created.polling_interval_seconds == 300
    assert created.batch_size == 50
    assert created.is_active is True
    assert created.locked is False
    assert created.total_files_synced == 0
    assert_recent_utc(created.created_at)
    assert created.updated_at == created.created_at

    sync_id = created.sync_config_id
    get = syncs.get_sync_configuration_buckets_id_config
    assert get(bucket.bucket_id, sync_id) == created

    listed = syncs.list_sync_configurations_buckets(bucket.bucket_id)
    assert isinstance(listed, mixpeek.SyncListResponse)
    assert listed.results == [created]
    assert listed.total == 1
    assert listed.pagination.total == 1

    updated = syncs.update_sync_configuration_buckets_id_config(
        bucket.bucket_id,
        sync_id,
        mixpeek.SyncUpdateRequest(batch_size=10, metadata={"team": "ops"}),
    )

    assert isinstance(updated, mixpeek.SyncConfigurationModel)
    assert updated.batch_size == 10
    assert updated.metadata == {"team": "ops"}  # replaced, not merged (D4)
    assert updated.description == "camera uploads"
    assert updated.polling_interval_seconds == 300
    assert updated.created_at == created.created_at
    assert updated.updated_at > created.updated_at
    assert get(bucket.bucket_id, sync_id) == updated

    deleted = syncs.delete_sync_configuration_buckets_id_config(bucket.bucket_id, sync_id)
    assert deleted == {"success": True, "sync_config_id": sync_id}
    assert_not_found(mixpeek, lambda: get(bucket.bucket_id, sync_id))
    assert syncs.list_sync_configurations_buckets(bucket.bucket_id).results == []


def test_sync_list_filters_sent_by_the_sdk(
    mixpeek: ModuleType,
    syncs: Any,
    make_bucket: Callable[[str], Any],
    make_connection: Callable[[str], Any],
) -> None:
    bucket = make_bucket("sdk_filter_bucket")
    first = make_connection("sdk-filter-first")
    second = make_connection("sdk-filter-second")
    kept = syncs.create_sync_configuration_buckets(
        bucket.bucket_id,
        mixpeek.SyncCreateRequest(connection_id=first.connection_id, source_path="a"),
    )
    syncs.create_sync_configuration_buckets(
        bucket.bucket_id,
        mixpeek.SyncCreateRequest(connection_id=second.connection_id, source_path="b"),
    )
    suspended = syncs.update_sync_configuration_buckets_id_config(
        bucket.bucket_id,
        kept.sync_config_id,
        mixpeek.SyncUpdateRequest(status=mixpeek.TaskStatusEnum.SUSPENDED),
    )
    assert suspended.status == mixpeek.TaskStatusEnum.SUSPENDED

    def list_where(**filters: Any) -> Any:
        return syncs.list_sync_configurations_buckets(
            bucket.bucket_id,
            list_sync_configurations_request=mixpeek.ListSyncConfigurationsRequest(**filters),
        )

    assert list_where(connection_id=first.connection_id).results == [suspended]
    assert list_where(status=mixpeek.TaskStatusEnum.SUSPENDED).results == [suspended]
    assert list_where(status=mixpeek.TaskStatusEnum.PENDING, is_active=True).total == 1
    unfiltered = list_where()
    assert unfiltered.total == 2
    assert {sync.source_path for sync in unfiltered.results} == {"a", "b"}


# -- a sync that runs: all 15 BucketSyncsApi methods and the object reads ---------------------
# The path a developer's code takes: create a sync, trigger it, watch its job, read the objects
# it made, deal with the files that failed. The engine syncs from moto's S3 server.


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
