"""Bucket objects (CONTRACT.md D26): what real sync runs against moto's S3 server made, read
back, listed and deleted through the objects API, scoped like every bucket route (D8, D9).

Every answer is also parsed through the official SDK's own models (``sdk_models``), and the
SDK's ``BucketObjectsApi`` is driven unmodified against a real server process.
"""

import hashlib
import importlib
import re
from pathlib import Path
from types import ModuleType
from typing import Any, cast

import httpx2
import pytest

from tests.conftest import API_KEY, Api
from tests.objects_support import Store, blob_of
from tests.s3 import S3Store, trigger_and_wait
from tests.server_process import ServerProcess

RFC3339_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")


@pytest.fixture(scope="module")
def mixpeek() -> ModuleType:
    # Imported here, not at the top: importing the SDK builds ~1,350 models (see test_sdk.py).
    return importlib.import_module("mixpeek")


def parses_as_object(mixpeek: ModuleType, record: dict[str, Any]) -> Any:
    parsed = mixpeek.ObjectResponse.from_dict(record)
    assert parsed is not None
    assert parsed.object_id == record["object_id"]
    for blob in parsed.blobs or ():
        assert isinstance(blob.details, mixpeek.BlobDetails)
    return parsed


def parses_as_list(mixpeek: ModuleType, page: dict[str, Any]) -> Any:
    parsed = mixpeek.ListObjectsResponse.from_dict(page)
    assert parsed is not None
    assert [item.object_id for item in parsed.results] == [
        item["object_id"] for item in page["results"]
    ]
    return parsed


# --- the record ---------------------------------------------------------------------------------


def test_a_run_makes_one_object_per_file_shaped_as_d26(store: Store, mixpeek: ModuleType) -> None:
    clip, notes = b"\x00\x01 not really a video" * 100, b"plain text notes\n"
    store.put("media/in/clip.mp4", clip)
    store.put("media/in/sub/notes.txt", notes)
    store.put("media/other/skipped.txt", b"outside the source path")
    sync = store.make_sync()
    store.run(sync)

    page = store.api.ok("GET", store.objects_path)
    parses_as_list(mixpeek, page)
    objects = store.by_key()
    assert set(objects) == {"media/in/clip.mp4", "media/in/sub/notes.txt"}
    for key, body, filename, mime_type, kind, prefix in [
        ("media/in/clip.mp4", clip, "clip.mp4", "video/mp4", "video", "media/in"),
        ("media/in/sub/notes.txt", notes, "notes.txt", "text/plain", "text", "media/in/sub"),
    ]:
        record = objects[key]
        assert set(record) == {
            "object_id",
            "bucket_id",
            "key_prefix",
            "blobs",
            "source_details",
            "status",
            "error",
            "created_at",
            "updated_at",
            "document_count",
        }
        assert record["object_id"].startswith("obj_")
        assert record["bucket_id"] == store.bucket["bucket_id"]
        assert record["key_prefix"] == prefix
        assert record["status"] == "PENDING"
        assert record["error"] is None
        assert record["document_count"] is None  # null on lists, as the vendor's
        assert record["source_details"] == [{"type": "bucket", "source_id": sync["sync_config_id"]}]
        assert RFC3339_UTC.match(record["created_at"])
        assert RFC3339_UTC.match(record["updated_at"])
        # No "content" property in the schema: the type comes from the MIME type.
        assert blob_of(record) == {
            "property": "content",
            "type": kind,
            "details": {
                "filename": filename,
                "size_bytes": len(body),
                "mime_type": mime_type,
                "hash": "sha256:" + hashlib.sha256(body).hexdigest(),
            },
            "properties": {"source_bucket": store.source, "source_key": key},
        }
        parses_as_object(mixpeek, record)
    assert page["stats"] == {
        "total_objects": 2,
        "total_blobs": 2,
        "avg_blobs_per_object": 1.0,
        "objects_by_status": {"PENDING": 2},
    }


def test_schema_mapping_names_the_blob_property_and_the_schema_its_type(
    store: Store, mixpeek: ModuleType
) -> None:
    store.put("media/in/raw.bin", b"\x00" * 64, ContentType="application/octet-stream")
    sync = store.make_sync(
        schema_mapping={"mappings": {"video": {"target_type": "blob", "source": {"type": "file"}}}}
    )
    store.run(sync)

    (record,) = store.objects()
    blob = blob_of(record)
    assert blob["property"] == "video"
    assert blob["type"] == "video"  # the bucket schema's type for "video", not the MIME type's
    assert blob["details"]["mime_type"] == "application/octet-stream"
    assert blob["details"]["filename"] == "raw.bin"
    parses_as_object(mixpeek, record)


# --- get and delete -----------------------------------------------------------------------------


def test_get_answers_the_listed_record_and_delete_removes_it(
    store: Store, mixpeek: ModuleType
) -> None:
    store.put("media/in/a.txt", b"a")
    store.put("media/in/b.txt", b"b")
    store.run(store.make_sync())
    objects = store.by_key()
    listed = objects["media/in/a.txt"]
    path = f"{store.objects_path}/{listed['object_id']}"

    got = store.api.ok("GET", path)
    assert got == {**listed, "document_count": 0}  # no collection has processed it
    parses_as_object(mixpeek, got)
    by_name = f"/v1/buckets/videos/objects/{listed['object_id']}"
    assert store.api.ok("GET", by_name) == got
    assert store.api.ok("GET", path, params={"include_document_count": "false"}) == listed

    deleted = store.api.ok("DELETE", path)
    assert deleted == {"success": True, "object_id": listed["object_id"]}
    for method in ("GET", "DELETE"):
        response = store.api.request(method, path)
        assert response.status_code == 404
        assert response.json()["error"]["type"] == "NotFoundError"
    assert store.keys() == {"media/in/b.txt"}


def test_presigned_urls_cannot_be_asked_for(store: Store) -> None:
    store.put("media/in/a.txt", b"a")
    store.run(store.make_sync())
    (record,) = store.objects()
    path = f"{store.objects_path}/{record['object_id']}"

    response = store.api.get(path, params={"return_presigned_urls": "true"})
    assert response.status_code == 422, response.text
    response = store.api.post(f"{store.objects_path}/list", json={"return_presigned_urls": True})
    assert response.status_code == 422, response.text
    # The SDK always sends the default, false.
    listed = store.api.ok(
        "POST", f"{store.objects_path}/list", json={"return_presigned_urls": False}
    )
    assert [item["object_id"] for item in listed["results"]] == [record["object_id"]]


def test_a_deleted_objects_file_comes_back_only_when_it_changed_or_on_a_full_sync(
    store: Store,
) -> None:
    store.put("media/in/a.txt", b"first")
    store.settle()
    sync = store.make_sync()
    store.run(sync)
    (first,) = store.objects()
    store.api.ok("DELETE", f"{store.objects_path}/{first['object_id']}")

    store.run(sync)  # incremental: the file has not changed since the last run
    assert store.objects() == []

    store.run(sync, full_sync=True)  # reads every file again: the object is made anew
    (again,) = store.objects()
    assert again["object_id"] != first["object_id"]
    assert blob_of(again)["details"]["hash"] == blob_of(first)["details"]["hash"]

    store.api.ok("DELETE", f"{store.objects_path}/{again['object_id']}")
    store.put("media/in/a.txt", b"second")  # changed: the next incremental run takes it
    store.run(sync)
    (changed,) = store.objects()
    assert blob_of(changed)["details"]["hash"] == "sha256:" + hashlib.sha256(b"second").hexdigest()


# --- lists --------------------------------------------------------------------------------------


def test_lists_page_newest_first(store: Store, mixpeek: ModuleType) -> None:
    sync = store.make_sync()
    for name in ("one", "two", "three"):  # one run per file: each a newer object
        store.put(f"media/in/{name}.txt", name.encode())
        store.run(sync)
    newest_first = ["media/in/three.txt", "media/in/two.txt", "media/in/one.txt"]

    for method, path in [("GET", store.objects_path), ("POST", f"{store.objects_path}/list")]:
        first = store.api.ok(method, path, params={"page_size": 2})
        second = store.api.ok(method, path, params={"page": 2, "page_size": 2})
        keys = [blob_of(item)["properties"]["source_key"] for item in first["results"]]
        keys += [blob_of(item)["properties"]["source_key"] for item in second["results"]]
        assert keys == newest_first
        bucket_id = store.bucket["bucket_id"]
        assert first["pagination"] == {
            "total": 3,
            "page": 1,
            "page_size": 2,
            "total_pages": 2,
            "next_page": f"/v1/buckets/{bucket_id}/objects?page=2&page_size=2",
            "previous_page": None,
            "next_cursor": None,
        }
        assert second["pagination"]["next_page"] is None
        assert second["stats"]["total_objects"] == 1
        parses_as_list(mixpeek, first)
        by_offset = store.api.ok(method, path, params={"limit": 1, "offset": 1})
        assert [item["object_id"] for item in by_offset["results"]] == [
            first["results"][1]["object_id"]
        ]


@pytest.mark.parametrize("name", ["cursor", "next_cursor", "after"])
def test_cursors_are_refused_since_none_are_issued(store: Store, name: str) -> None:
    for method, path in [("GET", store.objects_path), ("POST", f"{store.objects_path}/list")]:
        response = store.api.request(method, path, params={name: "abc"})
        assert response.status_code == 422, response.text
        assert response.json()["error"]["details"]["validation_errors"][0]["location"] == [
            "query",
            name,
        ]


@pytest.fixture
def three_objects(store: Store) -> dict[str, dict[str, Any]]:
    store.put("media/in/clip.mp4", b"v" * 300)
    store.put("media/in/docs/Notes.txt", b"t" * 20)
    store.put("media/in/docs/readme.md", b"m" * 5)
    store.run(store.make_sync())
    return store.by_key()


def _listed(store: Store, body: Any) -> list[str]:
    page = store.api.ok("POST", f"{store.objects_path}/list", json=body)
    return [blob_of(item)["properties"]["source_key"] for item in page["results"]]


FILTER_CASES = [
    pytest.param({}, ["clip.mp4", "docs/Notes.txt", "docs/readme.md"], id="empty"),
    pytest.param(None, ["clip.mp4", "docs/Notes.txt", "docs/readme.md"], id="null"),
    pytest.param({"search": "DOCS/"}, ["docs/Notes.txt", "docs/readme.md"], id="search"),
    pytest.param(
        {"filters": {"blobs.details.mime_type": "video/mp4"}}, ["clip.mp4"], id="shorthand"
    ),
    pytest.param(
        {
            "filters": {
                "AND": [{"field": "blobs.details.size_bytes", "operator": "gte", "value": 20}]
            }
        },
        ["clip.mp4", "docs/Notes.txt"],
        id="gte",
    ),
    pytest.param(
        {
            "filters": {
                "OR": [
                    {"field": "blobs.details.filename", "operator": "eq", "value": "notes.txt"},
                    {
                        "field": "blobs.details.filename",
                        "operator": "ends_with",
                        "value": ".MD",
                    },
                ]
            }
        },
        ["docs/Notes.txt", "docs/readme.md"],
        id="or-ignoring-case",
    ),
    pytest.param(
        {
            "filters": {
                "case_sensitive": True,
                "OR": [
                    {"field": "blobs.details.filename", "operator": "eq", "value": "notes.txt"},
                    {
                        "field": "blobs.details.filename",
                        "operator": "starts_with",
                        "value": "read",
                    },
                ],
            }
        },
        ["docs/readme.md"],
        id="case-sensitive",
    ),
    pytest.param(
        {"filters": {"NOT": [{"field": "blobs.type", "operator": "in", "value": ["video"]}]}},
        ["docs/Notes.txt", "docs/readme.md"],
        id="not-in",
    ),
    pytest.param(
        {
            "filters": {
                "field": "blobs.properties.source_key",
                "operator": "contains",
                "value": "docs",
            },
            "search": "read",
        },
        ["docs/readme.md"],
        id="filter-and-search",
    ),
    pytest.param({"filters": {"created_at": "2000-01-01T00:00:00Z"}}, [], id="time-equality"),
    pytest.param(
        {"filters": {"field": "created_at", "operator": "gt", "value": "2000-01-01T00:00:00Z"}},
        ["clip.mp4", "docs/Notes.txt", "docs/readme.md"],
        id="time-after",
    ),
]


def test_list_filters_and_search_are_applied(store: Store, three_objects: dict[str, Any]) -> None:
    # One run for every case: each case a row, not a test.
    for case in FILTER_CASES:
        body, expected = cast(tuple[Any, list[str]], case.values)
        got = sorted(_listed(store, body))
        assert got == [f"media/in/{key}" for key in expected], case.id


def test_list_sort_and_select(
    store: Store, three_objects: dict[str, Any], mixpeek: ModuleType
) -> None:
    by_size = {"sort": {"field": "blobs.details.size_bytes", "direction": "desc"}}
    assert _listed(store, by_size) == [
        "media/in/clip.mp4",
        "media/in/docs/Notes.txt",
        "media/in/docs/readme.md",
    ]
    ascending = {"sort": {"field": "blobs.details.size_bytes"}}  # asc by default, as the vendor
    assert _listed(store, ascending)[0] == "media/in/docs/readme.md"

    page = store.api.ok(
        "POST",
        f"{store.objects_path}/list",
        json={"select": ["status", "blobs.details.filename"], **ascending},
    )
    assert page["results"][0] == {
        "object_id": three_objects["media/in/docs/readme.md"]["object_id"],
        "bucket_id": store.bucket["bucket_id"],
        "status": "PENDING",
        "blobs": [{"details": {"filename": "readme.md"}}],
    }
    # What select leaves out is optional in the SDK's models too, but a blob needs its
    # property and type: select those with the details when the SDK reads the page.
    page = store.api.ok(
        "POST",
        f"{store.objects_path}/list",
        json={"select": ["blobs.property", "blobs.type", "blobs.details"]},
    )
    parses_as_list(mixpeek, page)


REFUSED_LIST_BODIES = [
    pytest.param({"filters": {"metadata.team": "media"}}, id="metadata-field"),
    pytest.param({"filters": {"field": "filename", "value": "a"}}, id="unknown-field"),
    pytest.param({"filters": {"field": "status", "operator": "regex", "value": ".*"}}, id="regex"),
    pytest.param(
        {"filters": {"field": "blobs.details.size_bytes", "operator": "gt", "value": "20"}},
        id="size-as-string",
    ),
    pytest.param(
        {"filters": {"field": "created_at", "operator": "gt", "value": "yesterday"}},
        id="not-a-time",
    ),
    pytest.param(
        {"filters": {"field": "status", "operator": "in", "value": "PENDING"}},
        id="in-without-a-list",
    ),
    pytest.param({"filters": {"AND": []}}, id="empty-and"),
    pytest.param(
        {"filters": {"field": "status", "value": "PENDING", "boost": 2}}, id="condition-extra"
    ),
    pytest.param({"sort": {"field": "metadata.rank"}}, id="sort-unknown-field"),
    pytest.param({"sort": {"field": "status", "direction": "up"}}, id="sort-direction"),
    pytest.param({"select": ["blobs.url"]}, id="select-unknown-path"),
    pytest.param({"limit": 5}, id="unknown-key"),
]


def test_what_a_list_cannot_apply_is_a_422_never_ignored(
    store: Store, three_objects: dict[str, Any]
) -> None:
    for case in REFUSED_LIST_BODIES:
        (body,) = case.values
        response = store.api.post(f"{store.objects_path}/list", json=body)
        assert response.status_code == 422, (case.id, response.text)
        error = response.json()["error"]
        assert error["type"] == "ValidationError"
        assert error["details"]["validation_errors"][0]["location"][0] == "body", case.id


# --- scoping (D8, D9) ---------------------------------------------------------------------------


def _object_requests(bucket: str, object_id: str) -> list[tuple[str, str]]:
    base = f"/v1/buckets/{bucket}/objects"
    return [
        ("GET", base),
        ("POST", f"{base}/list"),
        ("GET", f"{base}/{object_id}"),
        ("DELETE", f"{base}/{object_id}"),
    ]


def test_objects_outside_the_callers_scope_are_404_like_ones_that_never_existed(
    store: Store, other_org: Api
) -> None:
    store.put("media/in/a.txt", b"a")
    store.run(store.make_sync())
    (record,) = store.objects()
    object_id, bucket_id = record["object_id"], store.bucket["bucket_id"]
    ghost_object, ghost_bucket = "obj_never_existed_00000", "bkt_never_existed_00000"
    api = store.api
    api.make_namespace("elsewhere")
    other_bucket = api.make_bucket("images")

    def assert_like_a_ghost(
        caller: Api, method: str, path: str, ghost_path: str, **kw: Any
    ) -> None:
        response = caller.request(method, path, **kw)
        never = caller.request(method, ghost_path, **kw)
        assert response.status_code == 404, (method, path, response.text)
        assert response.json()["error"]["type"] == "NotFoundError"
        shown = response.text
        for real, ghost in [
            (object_id, ghost_object),
            (bucket_id, ghost_bucket),
            ("'videos'", "'ghost-videos'"),
        ]:
            shown = shown.replace(real, ghost)
        assert shown == never.text, (method, path)

    for bucket, ghost_name in [(bucket_id, ghost_bucket), ("videos", "ghost-videos")]:
        for (method, path), (_, ghost_path) in zip(
            _object_requests(bucket, object_id),
            _object_requests(ghost_name, ghost_object),
            strict=True,
        ):
            # Another organization, by its own namespace or by naming ours.
            assert_like_a_ghost(other_org, method, path, ghost_path)
            namespace = {"headers": {"X-Namespace": store.bucket["namespace_id"]}}
            assert_like_a_ghost(other_org, method, path, ghost_path, **namespace)
            # Another namespace of the same organization.
            elsewhere = {"headers": {"X-Namespace": "elsewhere"}}
            assert_like_a_ghost(api, method, path, ghost_path, **elsewhere)
    # Another bucket of the same namespace: the object is not there.
    other_base = f"/v1/buckets/{other_bucket['bucket_id']}/objects"
    for method in ("GET", "DELETE"):
        assert_like_a_ghost(
            api, method, f"{other_base}/{object_id}", f"{other_base}/{ghost_object}"
        )
    assert api.ok("GET", other_base)["results"] == []
    assert store.objects() == [record]  # untouched


def test_objects_go_with_their_bucket(store: Store) -> None:
    store.put("media/in/a.txt", b"a")
    store.run(store.make_sync())
    (record,) = store.objects()
    store.api.ok("DELETE", "/v1/buckets/videos")
    store.make_bucket("videos")  # the same name again: a new, empty bucket
    assert store.api.get(f"/v1/buckets/videos/objects/{record['object_id']}").status_code == 404
    assert store.api.ok("GET", "/v1/buckets/videos/objects")["results"] == []


# --- the SDK (mixpeek==1.3.783), unmodified, against a real server -------------------------------


@pytest.mark.e2e
def test_the_sdks_bucket_objects_api_lists_gets_and_deletes(
    tmp_path: Path, s3: S3Store, mixpeek: ModuleType
) -> None:
    source = s3.new_bucket("sdk")
    s3.put(source, "media/in/a.mp4", b"a" * 10)
    s3.put(source, "media/in/b.txt", b"b" * 20)
    with (
        ServerProcess(tmp_path / "mock.db") as server,
        httpx2.Client(
            base_url=server.url,
            headers={"Authorization": f"Bearer {API_KEY}", "X-Namespace": "default"},
        ) as http,
    ):
        api = Api(http, API_KEY)  # type: ignore[arg-type]
        connection = api.ok(
            "POST", "/v1/organizations/connections", json=s3.connection_body("sdk-store")
        )
        bucket = api.ok(
            "POST",
            "/v1/buckets",
            json={"bucket_name": "sdk-videos", "bucket_schema": {"properties": {}}},
        )
        sync = api.ok(
            "POST",
            f"/v1/buckets/{bucket['bucket_id']}/syncs",
            json={
                "connection_id": connection["connection_id"],
                "source_path": f"{source}/media/in",
            },
        )
        trigger_and_wait(api, sync)

        cfg = mixpeek.Configuration(host=server.url, access_token=API_KEY)
        cfg.api_key["NamespaceHeader"] = "default"
        with mixpeek.ApiClient(cfg) as client:
            objects = mixpeek.BucketObjectsApi(client)
            listed = objects.list_objects_buckets("sdk-videos", page_size=10, include_total=True)
            assert isinstance(listed, mixpeek.ListObjectsResponse)
            assert listed.pagination.total == 2
            with_body = objects.list_objects_buckets(
                bucket["bucket_id"],
                list_objects_request=mixpeek.ListObjectsRequest(search="b.txt"),
            )
            assert [item.blobs[0].details.filename for item in with_body.results] == ["b.txt"]
            by_get = objects.list_objects_get_buckets(bucket["bucket_id"], limit=1, offset=1)
            assert len(by_get.results) == 1
            first = listed.results[0]
            got = objects.get_object_buckets(bucket["bucket_id"], first.object_id)
            assert isinstance(got, mixpeek.ObjectResponse)
            assert got.object_id == first.object_id
            assert got.source_details[0].type == mixpeek.SourceType.BUCKET
            assert got.source_details[0].source_id == sync["sync_config_id"]
            assert got.blobs[0].details.hash.startswith("sha256:")
            assert got.document_count == 0
            assert objects.delete_object_buckets(bucket["bucket_id"], first.object_id) is None
            with pytest.raises(mixpeek.exceptions.NotFoundException):
                objects.get_object_buckets(bucket["bucket_id"], first.object_id)
            assert objects.list_objects_buckets("sdk-videos").pagination.total == 1
