"""Namespaces and organizations as scopes (CONTRACT.md D8, D9).

Bucket and sync routes need a namespace (``X-Namespace``, or ``?namespace=`` when the header is
absent) of the caller's organization. Nothing outside the caller's scope can be seen or touched,
and finding out that something exists elsewhere is impossible: a foreign resource answers exactly
like one that never existed.
"""

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from app.errors import MSG_MISSING_NAMESPACE
from tests.conftest import Api
from tests.s3 import S3Store, trigger_and_wait

SYNC_UPDATE = {"polling_interval_seconds": 600}


def assert_error(response: Any, status: int, type_: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert body["success"] is False
    assert body["status"] == status
    assert body["error"]["type"] == type_
    return body


# --- the namespace a request names ---------------------------------------------------------

NAMESPACED_ROUTES = [
    pytest.param("GET", "/v1/buckets", None, id="list-buckets"),
    pytest.param("POST", "/v1/buckets/list", None, id="post-list-buckets"),
    pytest.param(
        "POST",
        "/v1/buckets",
        {"bucket_name": "b", "bucket_schema": {"properties": {}}},
        id="create-bucket",
    ),
    pytest.param("GET", "/v1/buckets/videos", None, id="get-bucket"),
    pytest.param("DELETE", "/v1/buckets/videos", None, id="delete-bucket"),
    pytest.param("POST", "/v1/buckets/videos/syncs/list", None, id="list-syncs"),
    pytest.param(
        "POST",
        "/v1/buckets/videos/syncs",
        {"connection_id": "minio", "source_path": "in"},
        id="create-sync",
    ),
    pytest.param("GET", "/v1/buckets/videos/syncs/sync_x", None, id="get-sync"),
    pytest.param("PATCH", "/v1/buckets/videos/syncs/sync_x", SYNC_UPDATE, id="patch-sync"),
    pytest.param("DELETE", "/v1/buckets/videos/syncs/sync_x", None, id="delete-sync"),
    pytest.param("POST", "/v1/buckets/videos/syncs/sync_x/jobs", None, id="list-jobs"),
    pytest.param("GET", "/v1/buckets/videos/syncs/sync_x/jobs/job_x", None, id="get-job"),
    pytest.param("GET", "/v1/buckets/videos/syncs/sync_x/metrics", None, id="metrics"),
    pytest.param("POST", "/v1/buckets/videos/syncs/sync_x/dlq", None, id="list-dlq"),
    pytest.param("POST", "/v1/buckets/videos/syncs/sync_x/dlq/requeue", None, id="requeue-dlq"),
    pytest.param(
        "POST",
        "/v1/buckets/videos/syncs/sync_x/dlq/bulk-mark-failed",
        {"error_types": ["download_failed"]},
        id="bulk-mark-dlq",
    ),
    pytest.param("GET", "/v1/buckets/videos/objects", None, id="list-objects"),
    pytest.param("POST", "/v1/buckets/videos/objects/list", None, id="post-list-objects"),
    pytest.param("GET", "/v1/buckets/videos/objects/obj_x", None, id="get-object"),
    pytest.param("DELETE", "/v1/buckets/videos/objects/obj_x", None, id="delete-object"),
]


@pytest.mark.parametrize(("method", "path", "body"), NAMESPACED_ROUTES)
def test_bucket_and_sync_routes_need_a_namespace(
    api: Api, method: str, path: str, body: dict[str, Any] | None
) -> None:
    api.make_sync(api.make_bucket("videos"), api.make_connection("minio"))
    headers = {"Authorization": f"Bearer {api.key}"}
    response = api.client.request(method, path, headers=headers, json=body)
    error = assert_error(response, 400, "BadRequestError")
    assert error["error"]["message"] == MSG_MISSING_NAMESPACE


def test_an_empty_namespace_header_is_a_missing_namespace(api: Api) -> None:
    response = api.get("/v1/buckets", headers={"X-Namespace": ""})
    assert_error(response, 400, "BadRequestError")


def test_the_namespace_query_parameter_works_without_the_header(api: Api) -> None:
    media = api.make_namespace("media")
    bucket = api.make_bucket("videos", namespace="media")
    headers = {"Authorization": f"Bearer {api.key}"}

    for identifier in ("media", media["namespace_id"]):
        response = api.client.get(
            "/v1/buckets/videos", params={"namespace": identifier}, headers=headers
        )
        assert response.status_code == 200, response.text
        assert response.json()["bucket_id"] == bucket["bucket_id"]


def test_the_header_wins_over_the_query_parameter(api: Api) -> None:
    api.make_namespace("media")
    bucket = api.make_bucket("videos", namespace="media")

    response = api.get("/v1/buckets/videos", params={"namespace": "default"})  # header: default
    assert_error(response, 404, "NotFoundError")
    response = api.get(
        "/v1/buckets/videos", params={"namespace": "default"}, headers={"X-Namespace": "media"}
    )
    assert response.json()["bucket_id"] == bucket["bucket_id"]


def test_a_namespace_can_be_named_by_id_or_by_name(api: Api) -> None:
    media = api.make_namespace("media")
    bucket = api.make_bucket("videos", namespace=media["namespace_id"])
    assert bucket["namespace_id"] == media["namespace_id"]

    for identifier in (media["namespace_id"], "media"):
        got = api.ok(
            "GET", f"/v1/buckets/{bucket['bucket_id']}", headers={"X-Namespace": identifier}
        )
        assert got == bucket
        listed = api.ok("GET", "/v1/buckets", headers={"X-Namespace": identifier})
        assert [item["bucket_id"] for item in listed["results"]] == [bucket["bucket_id"]]


@pytest.mark.parametrize("identifier", ["ns_never_existed_000000", "no-such-namespace"])
def test_an_unknown_namespace_is_404(api: Api, identifier: str) -> None:
    response = api.get("/v1/buckets", headers={"X-Namespace": identifier})
    assert_error(response, 404, "NotFoundError")


def test_another_organizations_namespace_is_404_by_id_and_by_name(api: Api, other_org: Api) -> None:
    theirs = other_org.make_namespace("their-space")
    other_org.make_bucket("videos", namespace="their-space")

    for identifier in (theirs["namespace_id"], "their-space"):
        response = api.get("/v1/buckets", headers={"X-Namespace": identifier})
        assert_error(response, 404, "NotFoundError")
        response = api.get("/v1/buckets/videos", headers={"X-Namespace": identifier})
        assert_error(response, 404, "NotFoundError")


def test_namespace_names_are_per_organization(api: Api, other_org: Api) -> None:
    # Both organizations have a namespace called "default"; each key sees its own.
    mine = api.make_bucket("mine")
    theirs = other_org.make_bucket("theirs")

    assert [b["bucket_id"] for b in api.ok("GET", "/v1/buckets")["results"]] == [mine["bucket_id"]]
    assert [b["bucket_id"] for b in other_org.ok("GET", "/v1/buckets")["results"]] == [
        theirs["bucket_id"]
    ]
    assert mine["namespace_id"] != theirs["namespace_id"]


# --- a resource outside the scope answers like one that never existed ------------------------


def without(body: dict[str, Any], *identifiers: str) -> dict[str, Any]:
    """The body with the identifiers a message quotes replaced, to compare 404s across ids."""
    message = body["error"]["message"]
    for identifier in identifiers:
        message = message.replace(identifier, "<id>")
    return {**body, "error": {**body["error"], "message": message}}


def test_a_bucket_in_another_namespace_is_404_like_one_that_never_existed(api: Api) -> None:
    api.make_namespace("media")
    elsewhere = api.make_bucket("videos", namespace="media")
    ghost = "bkt_never_existed_00000"

    for path in ("/v1/buckets/{}", "/v1/buckets/{}/syncs/list"):
        method = "POST" if path.endswith("list") else "GET"
        foreign = api.request(method, path.format(elsewhere["bucket_id"]))
        missing = api.request(method, path.format(ghost))
        assert_error(foreign, 404, "NotFoundError")
        assert without(foreign.json(), elsewhere["bucket_id"]) == without(missing.json(), ghost)

    # By name too: "videos" exists only in "media".
    assert_error(api.get("/v1/buckets/videos"), 404, "NotFoundError")
    assert api.ok("GET", "/v1/buckets/videos", headers={"X-Namespace": "media"}) == elsewhere


def test_deleting_a_bucket_from_another_namespace_does_nothing(api: Api) -> None:
    api.make_namespace("media")
    elsewhere = api.make_bucket("videos", namespace="media")

    assert_error(api.delete(f"/v1/buckets/{elsewhere['bucket_id']}"), 404, "NotFoundError")
    assert api.ok("GET", "/v1/buckets/videos", headers={"X-Namespace": "media"}) == elsewhere


@pytest.mark.parametrize(
    ("method", "body"),
    [("GET", None), ("PATCH", SYNC_UPDATE), ("DELETE", None)],
)
def test_a_sync_under_another_bucket_is_404_like_one_that_never_existed(
    api: Api, method: str, body: dict[str, Any] | None
) -> None:
    connection = api.make_connection()
    sync = api.make_sync(api.make_bucket("videos"), connection)
    other_bucket = api.make_bucket("images")
    ghost = "sync_never_existed_0000"

    foreign = api.request(
        method, f"/v1/buckets/{other_bucket['bucket_id']}/syncs/{sync['sync_config_id']}", json=body
    )
    missing = api.request(
        method, f"/v1/buckets/{other_bucket['bucket_id']}/syncs/{ghost}", json=body
    )

    assert_error(foreign, 404, "NotFoundError")
    assert without(foreign.json(), sync["sync_config_id"]) == without(missing.json(), ghost)
    assert api.ok("GET", api.sync_path(sync)) == sync  # untouched


def test_a_sync_is_found_under_its_bucket_by_id_or_name(api: Api) -> None:
    sync = api.make_sync(api.make_bucket("videos"), api.make_connection())
    by_name = api.ok("GET", f"/v1/buckets/videos/syncs/{sync['sync_config_id']}")
    assert by_name == sync


# --- a second organization can touch nothing of the first -------------------------------------


@dataclass(frozen=True)
class Target:
    """The first organization's resources (or, for comparison, look-alikes that never existed)."""

    namespace_id: str
    namespace_name: str
    default_namespace_id: str
    bucket_id: str
    bucket_name: str
    connection_id: str
    connection_name: str
    sync_config_id: str
    object_id: str

    def identifiers(self) -> list[str]:
        return [
            self.namespace_id,
            self.namespace_name,
            self.default_namespace_id,
            self.bucket_id,
            self.bucket_name,
            self.connection_id,
            self.connection_name,
            self.sync_config_id,
            self.object_id,
        ]


GHOST = Target(
    namespace_id="ns_never_existed_000000",
    namespace_name="ghost-space",
    default_namespace_id="ns_never_existed_111111",
    bucket_id="bkt_never_existed_00000",
    bucket_name="ghost-bucket",
    connection_id="conn_never_existed_0000",
    connection_name="ghost-connection",
    sync_config_id="sync_never_existed_0000",
    object_id="obj_never_existed_00000",
)

Request = tuple[str, str, dict[str, Any]]  # method, path, keyword arguments for Api.request


def _in(namespace: str) -> dict[str, Any]:
    return {"headers": {"X-Namespace": namespace}}


# A job id, the same for the real and the ghost targets (the sync is what is foreign).
GHOST_JOB = "job_never_existed_000000"


def _sync_requests(bucket: str, sync: str, namespace: str) -> list[Request]:
    base = f"/v1/buckets/{bucket}/syncs"
    return [
        ("GET", f"{base}/{sync}", _in(namespace)),
        ("PATCH", f"{base}/{sync}", {**_in(namespace), "json": SYNC_UPDATE}),
        ("DELETE", f"{base}/{sync}", _in(namespace)),
        ("POST", f"{base}/list", _in(namespace)),
        ("POST", base, {**_in(namespace), "json": {"connection_id": "x", "source_path": "in"}}),
        *(
            ("POST", f"{base}/{sync}/{action}", _in(namespace))
            for action in ("pause", "resume", "trigger", "unlock")
        ),
        # Jobs, metrics and dead letters: the sync's scope decides, before the job is looked up.
        ("POST", f"{base}/{sync}/jobs", _in(namespace)),
        ("GET", f"{base}/{sync}/jobs/{GHOST_JOB}", _in(namespace)),
        ("GET", f"{base}/{sync}/metrics", _in(namespace)),
        ("POST", f"{base}/{sync}/dlq", _in(namespace)),
        ("POST", f"{base}/{sync}/dlq/requeue", _in(namespace)),
        (
            "POST",
            f"{base}/{sync}/dlq/bulk-mark-failed",
            {**_in(namespace), "json": {"error_types": ["download_failed"]}},
        ),
    ]


def _object_requests(bucket: str, object_id: str, namespace: str) -> list[Request]:
    base = f"/v1/buckets/{bucket}/objects"
    return [
        ("GET", base, _in(namespace)),
        ("POST", f"{base}/list", _in(namespace)),
        ("GET", f"{base}/{object_id}", _in(namespace)),
        ("DELETE", f"{base}/{object_id}", _in(namespace)),
    ]


def foreign_requests(target: Target, own_namespace: str) -> list[Request]:
    """Every request by which a second organization could reach the first one's resources.

    ``own_namespace`` is the caller's own namespace, for routes that need one: naming the
    first organization's namespace must fail, and so must naming its resources from one's own.
    """
    t = target
    requests: list[Request] = []
    for namespace in (t.namespace_id, t.namespace_name, t.default_namespace_id):
        requests += [
            ("GET", f"/v1/namespaces/{namespace}", {}),
            ("DELETE", f"/v1/namespaces/{namespace}", {}),
            ("GET", "/v1/buckets", _in(namespace)),
            ("POST", "/v1/buckets/list", _in(namespace)),
            (
                "POST",
                "/v1/buckets",
                {
                    **_in(namespace),
                    "json": {"bucket_name": "intruder", "bucket_schema": {"properties": {}}},
                },
            ),
        ]
    for bucket in (t.bucket_id, t.bucket_name):
        for namespace in (t.namespace_id, t.namespace_name, own_namespace):
            requests += [
                ("GET", f"/v1/buckets/{bucket}", _in(namespace)),
                ("DELETE", f"/v1/buckets/{bucket}", _in(namespace)),
                *_sync_requests(bucket, t.sync_config_id, namespace),
                *_object_requests(bucket, t.object_id, namespace),
            ]
    for connection in (t.connection_id, t.connection_name):
        requests += [
            ("GET", f"/v1/organizations/connections/{connection}", {}),
            ("DELETE", f"/v1/organizations/connections/{connection}", {}),
        ]
    return requests


# Routes a second organization can call without naming anything of the first one.
LIST_ROUTES: list[Request] = [
    ("GET", "/v1/namespaces", {}),
    ("POST", "/v1/namespaces/list", {}),
    ("POST", "/v1/namespaces/list", {"json": {"search": "space"}}),
    ("GET", "/v1/buckets", {}),
    ("POST", "/v1/buckets/list", {}),
    ("GET", "/v1/organizations/connections", {}),
    ("POST", "/v1/organizations/connections/list", {}),
    ("POST", "/v1/organizations/connections/list", {"json": {"provider_type": "s3"}}),
]

# Routes that concern nobody's resources.
UNSCOPED_PATHS = {"/v1/health", "/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc"}


@pytest.fixture
def first_org(api: Api, s3: S3Store) -> Target:
    """The first organization's namespace, bucket, connection, sync and an object a run of
    that sync made (from moto's S3 server)."""
    namespace = api.make_namespace("first-space")
    bucket = api.make_bucket("first-bucket", namespace="first-space")
    connection = api.ok(
        "POST", "/v1/organizations/connections", json=s3.connection_body("first-connection")
    )
    source = s3.new_bucket("first")
    s3.put(source, "media/in/a.txt", b"the first organization's file")
    in_first_space = Api(api.client, api.key, namespace="first-space")
    sync = in_first_space.make_sync(bucket, connection, source_path=f"{source}/media/in")
    trigger_and_wait(in_first_space, sync)
    (made,) = in_first_space.ok("GET", f"/v1/buckets/{bucket['bucket_id']}/objects")["results"]
    api.make_sync(api.make_bucket("default-bucket"), connection)  # one in "default" too
    default = api.ok("GET", "/v1/namespaces/default")
    return Target(
        namespace_id=namespace["namespace_id"],
        namespace_name="first-space",
        default_namespace_id=default["namespace_id"],
        bucket_id=bucket["bucket_id"],
        bucket_name="first-bucket",
        connection_id=connection["connection_id"],
        connection_name="first-connection",
        sync_config_id=sync["sync_config_id"],
        object_id=made["object_id"],
    )


def snapshot(api: Api, target: Target) -> dict[str, Any]:
    """Everything the first organization can see, as it sees it."""
    space = {"X-Namespace": target.namespace_id}
    bucket_path = f"/v1/buckets/{target.bucket_id}"
    return {
        "namespaces": api.ok("GET", "/v1/namespaces"),
        "buckets": api.ok("GET", "/v1/buckets", headers=space),
        "default-buckets": api.ok("GET", "/v1/buckets"),
        "bucket": api.ok("GET", bucket_path, headers=space),
        "connections": api.ok("GET", "/v1/organizations/connections"),
        "syncs": api.ok("POST", f"{bucket_path}/syncs/list", headers=space),
        "sync": api.ok("GET", f"{bucket_path}/syncs/{target.sync_config_id}", headers=space),
        "objects": api.ok("GET", f"{bucket_path}/objects", headers=space),
        "object": api.ok("GET", f"{bucket_path}/objects/{target.object_id}", headers=space),
    }


def test_a_second_organization_cannot_reach_anything_of_the_first(
    api: Api, other_org: Api, first_org: Target
) -> None:
    before = snapshot(api, first_org)
    other_org.make_namespace("their-space")  # so that the first org's names are not all unique

    real = foreign_requests(first_org, own_namespace="default")
    ghosts = foreign_requests(GHOST, own_namespace="default")
    assert len(real) == len(ghosts)
    for (method, path, kwargs), (_, ghost_path, ghost_kwargs) in zip(real, ghosts, strict=True):
        response = other_org.request(method, path, **kwargs)
        label = f"{method} {path} {kwargs.get('headers', {})}"
        assert response.status_code == 404, f"{label}: {response.status_code} {response.text}"
        assert response.json()["error"]["type"] == "NotFoundError", label
        # The same answer as for things that never existed: nothing tells that they exist.
        never = other_org.request(method, ghost_path, **ghost_kwargs)
        assert without(response.json(), *first_org.identifiers()) == without(
            never.json(), *GHOST.identifiers()
        ), label

    assert snapshot(api, first_org) == before


def test_a_second_organization_lists_none_of_the_firsts_resources(
    api: Api, other_org: Api, first_org: Target
) -> None:
    other_org.make_namespace("their-space")
    theirs = other_org.make_bucket("their-bucket")
    their_connection = other_org.make_connection("their-connection")
    other_org.make_sync(theirs, their_connection)
    mine = set(first_org.identifiers())

    for method, path, kwargs in LIST_ROUTES:
        body = other_org.ok(method, path, **kwargs)
        shown = re.findall(r"\b(?:ns|bkt|conn|sync|obj)_[\w-]+", str(body))
        assert not mine & set(shown), f"{method} {path} shows {mine & set(shown)}"
        assert body["results"], f"{method} {path} lists nothing at all"
    syncs = other_org.ok("POST", f"/v1/buckets/{theirs['bucket_id']}/syncs/list")
    assert [s["connection_id"] for s in syncs["results"]] == [their_connection["connection_id"]]


def test_a_second_organization_cannot_use_the_firsts_connection(
    api: Api, other_org: Api, first_org: Target
) -> None:
    theirs = other_org.make_bucket("their-bucket")
    for connection in (first_org.connection_id, first_org.connection_name):
        response = other_org.post(
            f"/v1/buckets/{theirs['bucket_id']}/syncs",
            json={"connection_id": connection, "source_path": "in"},
        )
        assert_error(response, 404, "NotFoundError")
    assert other_org.ok("POST", f"/v1/buckets/{theirs['bucket_id']}/syncs/list")["total"] == 0


def test_names_may_repeat_across_organizations(api: Api, other_org: Api, first_org: Target) -> None:
    namespace = other_org.make_namespace("first-space")
    bucket = other_org.make_bucket("first-bucket", namespace="first-space")
    connection = other_org.make_connection("first-connection")

    assert namespace["namespace_id"] != first_org.namespace_id
    assert bucket["bucket_id"] != first_org.bucket_id
    assert connection["connection_id"] != first_org.connection_id
    # Each organization's names lead to its own resources.
    assert (
        other_org.ok("GET", "/v1/namespaces/first-space")["namespace_id"]
        == (namespace["namespace_id"])
    )
    assert api.ok("GET", "/v1/namespaces/first-space")["namespace_id"] == first_org.namespace_id


def _route_key(method: str, path: str) -> tuple[str, str]:
    """A request's route, with identifiers folded into placeholders."""
    path = re.sub(r"^/v1/namespaces/(?!list$)[^/]+", "/v1/namespaces/{}", path)
    path = re.sub(
        r"^/v1/organizations/connections/(?!list$)[^/]+", "/v1/organizations/connections/{}", path
    )
    path = re.sub(r"^/v1/buckets/(?!list$)[^/]+", "/v1/buckets/{}", path)
    path = re.sub(r"/syncs/(?!list$)[^/]+", "/syncs/{}", path)
    path = re.sub(r"/jobs/[^/]+", "/jobs/{}", path)
    path = re.sub(r"/objects/(?!list$)[^/]+", "/objects/{}", path)
    return method, path


def test_the_cross_organization_checks_cover_every_route() -> None:
    """A new route must be added to ``foreign_requests`` or ``LIST_ROUTES`` above.

    The routes are read from the committed spec, which a test keeps equal to the app's (D16);
    generating it here would cost a second.
    """
    spec = json.loads((Path(__file__).parent.parent / "openapi.json").read_text())
    covered = {
        _route_key(method, path)
        for method, path, _ in foreign_requests(GHOST, "default") + LIST_ROUTES
    }
    # Creating in one's own scope needs no check here: nothing of the first org is named.
    covered |= {("POST", "/v1/namespaces"), ("POST", "/v1/organizations/connections")}
    routes = {
        _route_key(method.upper(), re.sub(r"\{[^}]+\}", "x", path))
        for path, operations in spec["paths"].items()
        # The admin API is the deployment's, not an organization's (D28): no key opens it.
        if path not in UNSCOPED_PATHS and not path.startswith("/_mock/")
        for method in operations
    }
    assert routes
    assert routes - covered == set()


def test_ghost_and_real_targets_share_no_identifier(first_org: Target) -> None:
    # Guards the comparison above: a shared identifier would make it vacuous.
    assert not set(first_org.identifiers()) & set(GHOST.identifiers())
