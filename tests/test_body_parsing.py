"""Each body is parsed once, by the request guard, as UTF-8 JSON; what it refuses never reaches a
handler, on FastAPI's routes and on the sync hot path alike. And every API answer says
``nosniff`` and ``no-store``.

Before, the guard passed on a body its own parser could not read, and FastAPI's parser, which
accepts a byte-order mark, UTF-16/32, NaN and 1e999, stored it (NaN and 1e999 as null) or
answered 500.
"""

from typing import Any

import pytest

from app.db.database import Database
from tests.conftest import Api, dump_database

BODIES = [
    ("UTF-8 BOM", b"\xef\xbb\xbf" + b'{"description": "bom"}', 400),
    ("UTF-8 BOM with NaN", b"\xef\xbb\xbf" + b'{"metadata": {"n": NaN}}', 400),
    ("UTF-8 BOM with 1e999", b"\xef\xbb\xbf" + b'{"metadata": {"n": 1e999}}', 400),
    ("UTF-16 LE with BOM", '{"description": "wide"}'.encode("utf-16"), 400),
    ("UTF-16 LE without BOM", '{"description": "wide"}'.encode("utf-16-le"), 400),
    ("UTF-16 BE without BOM", '{"description": "wide"}'.encode("utf-16-be"), 400),
    ("UTF-32 with BOM", '{"description": "wide"}'.encode("utf-32"), 400),
    ("UTF-32 LE without BOM", '{"description": "wide"}'.encode("utf-32-le"), 400),
    ("UTF-16 with NaN", '{"metadata": {"n": NaN}}'.encode("utf-16-le"), 400),
    ("NaN", b'{"metadata": {"n": NaN}}', 422),
    ("1e999", b'{"metadata": {"n": 1e999}}', 422),
    ("-1e999", b'{"metadata": {"n": -1e999}}', 422),
    ("lone high surrogate", b'{"description": "\\ud800"}', 400),
    ("lone low surrogate in a key", b'{"metadata": {"\\udfff": 1}}', 400),
    ("malformed", b'{"description": ', 422),
    ("only whitespace", b"   ", 422),
]
IDS = [label for label, _, _ in BODIES]


def dump(database: Database) -> str:
    return dump_database(database)


def assert_envelope(response: Any, status: int) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["success"] is False
    assert body["status"] == status
    assert body["error"]["type"] == {400: "BadRequestError", 422: "ValidationError"}[status]
    assert_api_headers(response)


def assert_api_headers(response: Any) -> None:
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["cache-control"] == "no-store"


@pytest.mark.parametrize(("label", "content", "status"), BODIES, ids=IDS)
def test_a_body_that_is_not_utf8_json_is_refused_on_a_fastapi_route(
    api: Api, database: Database, label: str, content: bytes, status: int
) -> None:
    before = dump(database)
    response = api.post(
        "/v1/buckets", content=content, headers={"Content-Type": "application/json"}
    )
    assert_envelope(response, status)
    assert dump(database) == before


@pytest.mark.parametrize(("label", "content", "status"), BODIES, ids=IDS)
def test_a_body_that_is_not_utf8_json_is_refused_on_the_hot_path(
    api: Api, database: Database, sync: dict[str, Any], label: str, content: bytes, status: int
) -> None:
    before = dump(database)
    response = api.patch(
        api.sync_path(sync), content=content, headers={"Content-Type": "application/json"}
    )
    assert_envelope(response, status)
    assert dump(database) == before


def test_malformed_json_gets_the_json_invalid_envelope_from_the_guard(api: Api) -> None:
    response = api.post(
        "/v1/buckets", content=b'{"bucket_name": }', headers={"Content-Type": "application/json"}
    )
    assert_envelope(response, 422)
    problems = response.json()["error"]["details"]["validation_errors"]
    assert problems == [
        {
            "type": "json_invalid",
            "location": ["body"],
            "message": "Malformed JSON in the request body: Expecting value at character 16.",
        }
    ]


def test_answers_carry_nosniff_and_no_store(api: Api, sync: dict[str, Any]) -> None:
    answers = [
        api.get(api.sync_path(sync)),  # the hot path
        api.patch(api.sync_path(sync), json={"batch_size": 9}),
        api.get("/v1/buckets"),  # FastAPI's routes
        api.client.get("/v1/health"),
        api.get("/v1/nowhere"),  # 404 from routing
        api.request("PUT", "/v1/buckets"),  # 405
        api.client.get("/v1/buckets"),  # 401 from the guard
        api.patch(api.sync_path(sync), json={"batch_size": 0}),  # 422 on the hot path
        api.post("/v1/buckets", json={}),  # 422 from FastAPI
    ]
    assert [answer.status_code for answer in answers] == [
        200,
        200,
        200,
        200,
        404,
        405,
        401,
        422,
        422,
    ]
    for answer in answers:
        assert_api_headers(answer)
        assert answer.headers.get_list("cache-control") == ["no-store"]
