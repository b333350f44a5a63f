"""An example test suite using the mixpeek-mock pytest plugin (install mixpeek-mock and the
mixpeek SDK; no other setup: the plugin starts a server for the session)."""

import mixpeek


def test_a_bucket_made_through_the_sdk_is_there_and_the_journal_saw_it(mixpeek_mock):
    with mixpeek.ApiClient(mixpeek_mock.configuration()) as api_client:
        buckets = mixpeek.BucketsApi(api_client)
        created = buckets.create_bucket(
            mixpeek.BucketCreateRequest(bucket_name="videos", bucket_schema={"properties": {}})
        )
        assert buckets.get_bucket(created.bucket_id).bucket_name == "videos"

    assert mixpeek_mock.count(method="POST", path="/v1/buckets") == 1
    (sent,) = mixpeek_mock.requests(method="POST", path="/v1/buckets")
    assert sent["request_body"]["bucket_name"] == "videos"
    assert sent["status"] == 200


def test_every_test_starts_from_a_fresh_server(mixpeek_mock):
    # The bucket of the test above is gone: only the empty default namespace is left.
    assert mixpeek_mock.client().buckets.list()["results"] == []


def test_a_429_with_retry_after_is_retried_by_the_sdk(mixpeek_mock):
    mixpeek_mock.fault(method="POST", path="/v1/buckets/list", status=429, retry_after=1, times=1)
    assert mixpeek_mock.client().buckets.list()["results"] == []
    assert [r["status"] for r in mixpeek_mock.requests(path="/v1/buckets/list")] == [200, 429]


def test_time_stands_still_until_the_test_moves_it(mixpeek_mock):
    mixpeek_mock.freeze("2030-01-01T00:00:00Z")
    client = mixpeek_mock.client()
    bucket = client.buckets.create(bucket_name="frozen", bucket_schema={"properties": {}})
    assert bucket["created_at"].startswith("2030-01-01T00:00:00")
    assert mixpeek_mock.advance(3600)["now"] == "2030-01-01T01:00:00Z"


def test_a_snapshot_brings_the_state_back(mixpeek_mock):
    client = mixpeek_mock.client()
    client.buckets.create(bucket_name="kept", bucket_schema={"properties": {}})
    mixpeek_mock.snapshot("one-bucket")
    client.buckets.create(bucket_name="dropped", bucket_schema={"properties": {}})
    mixpeek_mock.restore("one-bucket")
    assert [b["bucket_name"] for b in client.buckets.list()["results"]] == ["kept"]
