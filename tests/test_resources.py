"""The resources syncs stand on: namespaces, buckets, storage connections (CONTRACT.md D1, D10,
D13, D14, D15).

They follow the newer API's looser rules, since they exist here so that syncs can be used. Every
success is a 200 with a JSON body, create and delete included; identifiers carry their prefixes.
"""

from typing import Any

import pytest

from tests.conftest import Api

SCHEMA = {"properties": {"video": {"type": "video"}}}
CONNECTIONS = "/v1/organizations/connections"

# The ways a client asks a POST /list route for everything: no body, an empty one (as the
# official SDK sends it), and an empty object.
NO_FILTER: list[dict[str, Any]] = [
    {},
    {"content": b"", "headers": {"Content-Type": "application/json"}},
    {"json": {}},
]


def assert_error(response: Any, status: int, type_: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert body["success"] is False
    assert body["error"]["type"] == type_
    return body


def problem_fields(response: Any) -> set[str]:
    """The fields a 422 names."""
    problems = response.json()["error"]["details"]["validation_errors"]
    return {problem["location"][1] for problem in problems if len(problem["location"]) > 1}


def ids(listing: dict[str, Any], key: str) -> list[str]:
    return [item[key] for item in listing["results"]]


# --- namespaces ----------------------------------------------------------------------------


def test_a_namespace_needs_only_a_name(api: Api) -> None:
    response = api.post("/v1/namespaces", json={"namespace_name": "media"})

    assert response.status_code == 200, response.text
    namespace = response.json()
    assert namespace["namespace_id"].startswith("ns_")
    assert namespace["namespace_name"] == "media"
    assert namespace["bucket_count"] == 0
    assert namespace["feature_extractors"] == []


def test_a_namespace_accepts_the_body_the_official_sdk_sends(api: Api) -> None:
    namespace = api.ok("POST", "/v1/namespaces", json={"namespace_name": "sdk", "mode": "managed"})
    assert namespace["namespace_name"] == "sdk"
    assert namespace["mode"] == "managed"
    assert api.ok("GET", "/v1/namespaces/sdk")["mode"] == "managed"


def test_a_namespaces_optional_fields_are_stored(api: Api) -> None:
    extractor = {"feature_extractor_name": "text_extractor", "version": "v1"}
    created = api.ok(
        "POST",
        "/v1/namespaces",
        json={
            "namespace_name": "search",
            "description": "Product search",
            "feature_extractors": [extractor],
        },
    )
    got = api.ok("GET", f"/v1/namespaces/{created['namespace_id']}")
    assert got["description"] == "Product search"
    assert got["feature_extractors"][0]["feature_extractor_name"] == "text_extractor"
    assert got["feature_extractors"][0]["version"] == "v1"


@pytest.mark.parametrize("name", ["abc", "a" * 64, "with spaces and-dashes_1"])
def test_namespace_names_of_3_to_64_characters_are_accepted(api: Api, name: str) -> None:
    assert api.make_namespace(name)["namespace_name"] == name


@pytest.mark.parametrize("name", ["", "ab", "a" * 65])
def test_namespace_names_outside_3_to_64_characters_are_422(api: Api, name: str) -> None:
    response = api.post("/v1/namespaces", json={"namespace_name": name})
    assert_error(response, 422, "ValidationError")
    assert problem_fields(response) == {"namespace_name"}


@pytest.mark.parametrize(
    "body", [{}, {"namespace_name": None}, {"namespace_name": 123}, {"name": "media"}]
)
def test_a_namespace_without_a_string_name_is_422(api: Api, body: dict[str, Any]) -> None:
    response = api.post("/v1/namespaces", json=body)
    assert_error(response, 422, "ValidationError")
    assert "namespace_name" in problem_fields(response)


def test_a_namespace_is_found_by_id_or_by_name(api: Api) -> None:
    created = api.make_namespace("media")
    assert api.ok("GET", f"/v1/namespaces/{created['namespace_id']}") == created
    assert api.ok("GET", "/v1/namespaces/media") == created


def test_an_unknown_namespace_is_404(api: Api) -> None:
    assert_error(api.get("/v1/namespaces/ns_never_existed"), 404, "NotFoundError")
    assert_error(api.get("/v1/namespaces/nothing-here"), 404, "NotFoundError")


def test_a_duplicate_namespace_name_is_409(api: Api) -> None:
    first = api.make_namespace("media")
    response = api.post("/v1/namespaces", json={"namespace_name": "media"})

    assert_error(response, 409, "AlreadyExistsError")
    listing = api.ok("GET", "/v1/namespaces")
    assert ids(listing, "namespace_id").count(first["namespace_id"]) == 1
    assert ids(listing, "namespace_name").count("media") == 1


def test_namespaces_are_listed_by_get_and_by_post(api: Api) -> None:
    media = api.make_namespace("media")
    archive = api.make_namespace("archive")
    expected = {media["namespace_id"], archive["namespace_id"]}

    by_get = api.ok("GET", "/v1/namespaces")
    assert expected <= set(ids(by_get, "namespace_id"))
    assert by_get["total_count"] == 3  # with "default"

    for kwargs in NO_FILTER:
        by_post = api.ok("POST", "/v1/namespaces/list", **kwargs)
        assert by_post["results"] == by_get["results"]
        assert by_post["total_count"] == 3


def test_namespaces_can_be_searched_by_name(api: Api) -> None:
    media = api.make_namespace("media-library")
    api.make_namespace("archive")

    found = api.ok("POST", "/v1/namespaces/list", json={"search": "MEDIA"})
    assert ids(found, "namespace_id") == [media["namespace_id"]]
    assert found["total_count"] == 1
    nothing = api.ok("POST", "/v1/namespaces/list", json={"search": "nope"})
    assert nothing["results"] == []
    assert nothing["total_count"] == 0


def test_deleting_a_namespace_deletes_its_buckets_and_their_syncs(api: Api) -> None:
    namespace = api.make_namespace("media")
    bucket = api.make_bucket("videos", namespace="media")
    connection = api.make_connection()
    sync = api.ok(
        "POST",
        f"/v1/buckets/{bucket['bucket_id']}/syncs",
        json={"connection_id": connection["connection_id"], "source_path": "in"},
        headers={"X-Namespace": "media"},
    )
    assert api.ok("GET", "/v1/namespaces/media")["bucket_count"] == 1

    deleted = api.ok("DELETE", "/v1/namespaces/media")

    assert deleted == {"success": True, "namespace_id": namespace["namespace_id"]}
    assert_error(api.get(f"/v1/namespaces/{namespace['namespace_id']}"), 404, "NotFoundError")
    assert namespace["namespace_id"] not in ids(api.ok("GET", "/v1/namespaces"), "namespace_id")
    # A namespace of the same name starts empty: the bucket went with the old one.
    api.make_namespace("media")
    assert api.ok("GET", "/v1/buckets", headers={"X-Namespace": "media"})["results"] == []
    assert_error(
        api.get(api.sync_path(sync), headers={"X-Namespace": "media"}), 404, "NotFoundError"
    )
    # The sync is gone: its connection is no longer in use.
    assert api.ok("DELETE", f"{CONNECTIONS}/{connection['connection_id']}")


def test_deleting_a_namespace_leaves_the_others_alone(api: Api) -> None:
    api.make_namespace("media")
    api.make_bucket("videos", namespace="media")
    kept = api.make_bucket("videos")  # same name, in "default"

    api.ok("DELETE", "/v1/namespaces/media")

    assert api.ok("GET", "/v1/buckets/videos") == kept


def test_deleting_an_unknown_namespace_is_404(api: Api) -> None:
    assert_error(api.delete("/v1/namespaces/ns_never_existed"), 404, "NotFoundError")


# --- buckets -------------------------------------------------------------------------------


def test_a_bucket_is_created_in_the_requests_namespace(api: Api) -> None:
    response = api.post("/v1/buckets", json={"bucket_name": "videos", "bucket_schema": SCHEMA})

    assert response.status_code == 200, response.text
    bucket = response.json()
    assert bucket["bucket_id"].startswith("bkt_")
    assert bucket["bucket_name"] == "videos"
    assert bucket["bucket_schema"]["properties"]["video"]["type"] == "video"
    assert bucket["namespace_id"] == api.ok("GET", "/v1/namespaces/default")["namespace_id"]
    assert api.ok("GET", "/v1/namespaces/default")["bucket_count"] == 1


@pytest.mark.parametrize(
    ("body", "missing"),
    [
        ({"bucket_schema": SCHEMA}, "bucket_name"),
        ({"bucket_name": "videos"}, "bucket_schema"),
        ({}, "bucket_name"),
    ],
)
def test_a_bucket_needs_a_name_and_a_schema(api: Api, body: dict[str, Any], missing: str) -> None:
    response = api.post("/v1/buckets", json=body)
    assert_error(response, 422, "ValidationError")
    assert missing in problem_fields(response)
    assert api.ok("GET", "/v1/buckets")["results"] == []


def test_a_bucket_is_found_by_id_or_by_name(api: Api) -> None:
    bucket = api.make_bucket("videos")
    assert api.ok("GET", f"/v1/buckets/{bucket['bucket_id']}") == bucket
    assert api.ok("GET", "/v1/buckets/videos") == bucket


def test_an_unknown_bucket_is_404(api: Api) -> None:
    assert_error(api.get("/v1/buckets/bkt_never_existed"), 404, "NotFoundError")
    assert_error(api.get("/v1/buckets/nothing-here"), 404, "NotFoundError")


def test_buckets_are_listed_by_get_and_by_post(api: Api) -> None:
    videos = api.make_bucket("videos")
    images = api.make_bucket("images")

    by_get = api.ok("GET", "/v1/buckets")
    assert set(ids(by_get, "bucket_id")) == {videos["bucket_id"], images["bucket_id"]}
    assert by_get["total_count"] == 2
    for kwargs in NO_FILTER:
        assert api.ok("POST", "/v1/buckets/list", **kwargs)["results"] == by_get["results"]

    found = api.ok("POST", "/v1/buckets/list", json={"search": "vid"})
    assert ids(found, "bucket_id") == [videos["bucket_id"]]


def test_a_duplicate_bucket_name_in_a_namespace_is_409(api: Api) -> None:
    first = api.make_bucket("videos")
    response = api.post("/v1/buckets", json={"bucket_name": "videos", "bucket_schema": SCHEMA})

    assert_error(response, 409, "AlreadyExistsError")
    assert ids(api.ok("GET", "/v1/buckets"), "bucket_id") == [first["bucket_id"]]


def test_the_same_bucket_name_in_another_namespace_is_fine(api: Api) -> None:
    api.make_namespace("media")
    here = api.make_bucket("videos")
    there = api.make_bucket("videos", namespace="media")

    assert here["bucket_id"] != there["bucket_id"]
    assert api.ok("GET", "/v1/buckets/videos") == here
    assert api.ok("GET", "/v1/buckets/videos", headers={"X-Namespace": "media"}) == there


def test_deleting_a_bucket_deletes_its_syncs(api: Api) -> None:
    bucket = api.make_bucket("videos")
    connection = api.make_connection()
    sync = api.make_sync(bucket, connection)

    deleted = api.ok("DELETE", f"/v1/buckets/{bucket['bucket_id']}")

    assert deleted == {"success": True, "bucket_id": bucket["bucket_id"]}
    assert_error(api.get(f"/v1/buckets/{bucket['bucket_id']}"), 404, "NotFoundError")
    assert_error(api.get(api.sync_path(sync)), 404, "NotFoundError")
    # A new bucket of the same name has no syncs; the old ones do not come back.
    again = api.make_bucket("videos")
    assert api.ok("POST", f"/v1/buckets/{again['bucket_id']}/syncs/list")["total"] == 0
    # And the connection is no longer in use.
    assert api.ok("DELETE", f"{CONNECTIONS}/{connection['connection_id']}")


def test_a_bucket_is_deleted_by_name_too(api: Api) -> None:
    bucket = api.make_bucket("videos")
    assert api.ok("DELETE", "/v1/buckets/videos")["bucket_id"] == bucket["bucket_id"]
    assert api.ok("GET", "/v1/buckets")["results"] == []


def test_deleting_an_unknown_bucket_is_404(api: Api) -> None:
    assert_error(api.delete("/v1/buckets/bkt_never_existed"), 404, "NotFoundError")


# --- storage connections -------------------------------------------------------------------

MINIO_KEY = "minioadmin"


def s3_connection(name: str = "local-store", **overrides: Any) -> dict[str, Any]:
    return {
        "name": name,
        "provider_type": "s3",
        "provider_config": {
            "credentials": {
                "type": "access_key",
                "access_key_id": MINIO_KEY,
                "secret_access_key": MINIO_KEY,
            },
            "region": "us-east-1",
            "endpoint_url": "http://127.0.0.1:9000",
        },
        "test_before_save": False,
        **overrides,
    }


def google_drive_connection(name: str = "drive", **overrides: Any) -> dict[str, Any]:
    return {
        "name": name,
        "provider_type": "google_drive",
        "provider_config": {
            "credentials": {
                "type": "service_account",
                "project_id": "project",
                "private_key_id": "key-id",
                "private_key": "-----BEGIN PRIVATE KEY-----\nMIIEdrive\n-----END PRIVATE KEY-----",
                "client_email": "robot@project.iam.gserviceaccount.com",
                "client_id": "1234567890",
            }
        },
        **overrides,
    }


def test_an_s3_connection_with_minio_credentials_is_stored_without_a_test(api: Api) -> None:
    response = api.post(CONNECTIONS, json=s3_connection())

    assert response.status_code == 200, response.text
    connection = response.json()
    assert connection["connection_id"].startswith("conn_")
    assert connection["name"] == "local-store"
    assert connection["provider_type"] == "s3"
    assert connection["provider_config"]["endpoint_url"] == "http://127.0.0.1:9000"
    assert connection["provider_config"]["region"] == "us-east-1"
    assert connection["internal_id"].startswith("int_")
    assert connection["created_by_user_id"].startswith("usr_")


def test_credentials_never_come_back(api: Api) -> None:
    created = api.ok("POST", CONNECTIONS, json=s3_connection())
    path = f"{CONNECTIONS}/{created['connection_id']}"

    answers = [
        api.post(CONNECTIONS, json=s3_connection("second-store")),
        api.get(path),
        api.get(f"{CONNECTIONS}/local-store"),
        api.get(CONNECTIONS),
        api.post(f"{CONNECTIONS}/list"),
        api.delete(f"{CONNECTIONS}/second-store"),
    ]
    for response in answers:
        assert response.status_code == 200, response.text
        assert MINIO_KEY not in response.text, response.request.url
    assert created["provider_config"]["credentials"] == {"type": "access_key"}
    assert api.ok("GET", path)["provider_config"]["credentials"] == {"type": "access_key"}
    listed = api.ok("GET", CONNECTIONS)["results"]
    assert [item["provider_config"]["credentials"] for item in listed] == [{"type": "access_key"}]


def test_google_drive_credentials_never_come_back(api: Api) -> None:
    created = api.ok("POST", CONNECTIONS, json=google_drive_connection(test_before_save=False))
    got = api.get(f"{CONNECTIONS}/drive")

    assert created["provider_config"]["credentials"] == {"type": "service_account"}
    assert got.json()["provider_config"]["credentials"] == {"type": "service_account"}
    for secret in ("PRIVATE KEY", "key-id", "robot@project"):
        assert secret not in got.text


def test_a_connection_is_found_by_id_or_by_name(api: Api) -> None:
    created = api.ok("POST", CONNECTIONS, json=s3_connection())
    assert api.ok("GET", f"{CONNECTIONS}/{created['connection_id']}") == created
    assert api.ok("GET", f"{CONNECTIONS}/local-store") == created


def test_an_unknown_connection_is_404(api: Api) -> None:
    assert_error(api.get(f"{CONNECTIONS}/conn_never_existed"), 404, "NotFoundError")
    assert_error(api.get(f"{CONNECTIONS}/nothing-here"), 404, "NotFoundError")


def test_connections_are_listed_by_get_and_by_post_with_filters(api: Api) -> None:
    s3 = api.ok("POST", CONNECTIONS, json=s3_connection())
    drive = api.ok("POST", CONNECTIONS, json=google_drive_connection(test_before_save=False))

    by_get = api.ok("GET", CONNECTIONS)
    assert set(ids(by_get, "connection_id")) == {s3["connection_id"], drive["connection_id"]}
    assert by_get["total"] == 2
    for kwargs in NO_FILTER:
        assert api.ok("POST", f"{CONNECTIONS}/list", **kwargs)["results"] == by_get["results"]

    only_s3 = api.ok("POST", f"{CONNECTIONS}/list", json={"provider_type": "s3"})
    assert ids(only_s3, "connection_id") == [s3["connection_id"]]
    assert only_s3["total"] == 1
    only_drive = api.ok("POST", f"{CONNECTIONS}/list", json={"provider_type": "google_drive"})
    assert ids(only_drive, "connection_id") == [drive["connection_id"]]
    active = api.ok("POST", f"{CONNECTIONS}/list", json={"is_active": True})
    assert active["total"] == 2
    inactive = api.ok("POST", f"{CONNECTIONS}/list", json={"is_active": False})
    assert inactive["results"] == []
    assert inactive["total"] == 0


def test_a_duplicate_connection_name_is_409(api: Api) -> None:
    first = api.ok("POST", CONNECTIONS, json=s3_connection())
    response = api.post(CONNECTIONS, json=s3_connection())

    assert_error(response, 409, "AlreadyExistsError")
    assert ids(api.ok("GET", CONNECTIONS), "connection_id") == [first["connection_id"]]


def test_deleting_a_connection(api: Api) -> None:
    created = api.ok("POST", CONNECTIONS, json=s3_connection())
    path = f"{CONNECTIONS}/{created['connection_id']}"

    response = api.delete(path)

    assert response.status_code == 200, response.text
    assert response.json()["connection_id"] == created["connection_id"]
    assert_error(api.get(path), 404, "NotFoundError")
    assert_error(api.delete(path), 404, "NotFoundError")
    assert api.ok("GET", CONNECTIONS)["results"] == []


def test_a_connection_in_use_by_a_sync_cannot_be_deleted_until_the_sync_is(api: Api) -> None:
    connection = api.make_connection()
    sync = api.make_sync(api.make_bucket(), connection)
    path = f"{CONNECTIONS}/{connection['connection_id']}"

    body = assert_error(api.delete(path), 400, "BadRequestError")

    assert "sync" in body["error"]["message"]
    assert api.ok("GET", path) == connection
    assert api.ok("GET", api.sync_path(sync)) == sync

    api.ok("DELETE", api.sync_path(sync))
    assert api.ok("DELETE", path)["connection_id"] == connection["connection_id"]
    assert_error(api.get(path), 404, "NotFoundError")


def test_testing_an_unreachable_s3_endpoint_is_400_with_the_reason(api: Api) -> None:
    body = s3_connection(test_before_save=True)
    body["provider_config"]["endpoint_url"] = "http://127.0.0.1:9"

    response = api.post(CONNECTIONS, json=body)

    error = assert_error(response, 400, "BadRequestError")
    assert "127.0.0.1:9" in error["error"]["message"]
    assert MINIO_KEY not in response.text
    assert api.ok("GET", CONNECTIONS)["results"] == []


def test_a_connection_is_tested_unless_told_otherwise(api: Api) -> None:
    body = s3_connection()
    del body["test_before_save"]
    body["provider_config"]["endpoint_url"] = "http://127.0.0.1:9"

    assert_error(api.post(CONNECTIONS, json=body), 400, "BadRequestError")
    assert api.ok("GET", CONNECTIONS)["results"] == []


def test_testing_a_google_drive_connection_is_400(api: Api) -> None:
    response = api.post(CONNECTIONS, json=google_drive_connection(test_before_save=True))

    error = assert_error(response, 400, "BadRequestError")
    assert "test_before_save" in error["error"]["message"]
    assert api.ok("GET", CONNECTIONS)["results"] == []


@pytest.mark.parametrize(
    ("credentials", "field"),
    [
        ({"type": "access_key", "access_key_id": "", "secret_access_key": "x"}, "access_key_id"),
        (
            {"type": "access_key", "access_key_id": "x", "secret_access_key": ""},
            "secret_access_key",
        ),
        ({"type": "access_key", "access_key_id": "x"}, "secret_access_key"),
    ],
)
def test_s3_access_keys_must_not_be_empty(
    api: Api, credentials: dict[str, Any], field: str
) -> None:
    body = s3_connection()
    body["provider_config"]["credentials"] = credentials

    response = api.post(CONNECTIONS, json=body)

    assert_error(response, 422, "ValidationError")
    problems = response.json()["error"]["details"]["validation_errors"]
    assert any(field in problem["location"] for problem in problems)


def test_an_unknown_provider_type_is_422(api: Api) -> None:
    response = api.post(CONNECTIONS, json=s3_connection(provider_type="floppy_disk"))
    assert_error(response, 422, "ValidationError")
    assert problem_fields(response) == {"provider_type"}


# --- the shape of every success -----------------------------------------------------------


def test_every_success_is_200_with_a_json_body(api: Api) -> None:
    connection = api.make_connection()
    steps: list[tuple[str, str, dict[str, Any]]] = [
        ("POST", "/v1/namespaces", {"json": {"namespace_name": "media"}}),
        ("GET", "/v1/namespaces/media", {}),
        ("POST", "/v1/buckets", {"json": {"bucket_name": "videos", "bucket_schema": SCHEMA}}),
        ("GET", "/v1/buckets/videos", {}),
        ("POST", "/v1/buckets/list", {}),
        (
            "POST",
            "/v1/buckets/videos/syncs",
            {"json": {"connection_id": connection["connection_id"], "source_path": "in"}},
        ),
        ("POST", "/v1/buckets/videos/syncs/list", {}),
        ("DELETE", "/v1/buckets/videos", {}),
        ("DELETE", "/v1/namespaces/media", {}),
        ("GET", CONNECTIONS, {}),
        ("DELETE", f"{CONNECTIONS}/{connection['connection_id']}", {}),
    ]
    for method, path, kwargs in steps:
        response = api.request(method, path, **kwargs)
        assert response.status_code == 200, f"{method} {path}: {response.text}"
        assert response.headers["content-type"].split(";")[0] == "application/json"
        assert isinstance(response.json(), dict)


def test_identifiers_carry_their_prefixes(api: Api, sync: dict[str, Any]) -> None:
    namespace = api.make_namespace("media")
    assert namespace["namespace_id"].startswith("ns_")
    assert sync["bucket_id"].startswith("bkt_")
    assert sync["connection_id"].startswith("conn_")
    assert sync["sync_config_id"].startswith("sync_")
    assert sync["namespace_id"].startswith("ns_")
    assert sync["internal_id"].startswith("int_")
    # The part after the prefix is random and URL-safe.
    for identifier in (namespace["namespace_id"], sync["bucket_id"], sync["sync_config_id"]):
        suffix = identifier.split("_", 1)[1]
        assert len(suffix) >= 8
        assert all(ch.isalnum() or ch in "-_" for ch in suffix)
