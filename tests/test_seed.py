"""Seed fixtures (CONTRACT.md D29): ``mixpeek-mock seed``, ``serve --seed``, ``/_mock/seed``."""

import json
import subprocess
from pathlib import Path
from typing import Any

import httpx2
import pytest
import yaml
from fastapi.testclient import TestClient

from app.admin.seed import MAX_SEED_RECORDS
from app.admin.seed_example import EXAMPLE_FIXTURE
from app.db.database import Database
from tests.conftest import ADMIN_HEADERS, API_KEY, Api, dump_database
from tests.server_process import EXECUTABLE, ServerProcess

ACME_KEY = "sk_acme_test_key_0123456789"


def seed(client: TestClient, document: Any) -> Any:
    return client.post("/_mock/seed", headers=ADMIN_HEADERS, json=document)


def dump(database: Database) -> str:
    return dump_database(database)


def run_cli(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [EXECUTABLE, *args], capture_output=True, text=True, input=stdin, timeout=60, check=False
    )


def example() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load(EXAMPLE_FIXTURE)
    return document


# --- the example, and records read back through the API ------------------------------------


def test_the_example_loads_into_a_fresh_server_and_reads_back_as_written(
    client: TestClient,
) -> None:
    response = seed(client, example())
    assert response.status_code == 200, response.text
    assert response.json() == {
        "success": True,
        "created": {
            "organizations": 1,
            "api_keys": 1,
            "namespaces": 2,
            "connections": 1,
            "buckets": 2,
            "syncs": 2,
            "objects": 2,
        },
    }
    acme = Api(client, ACME_KEY, namespace="media")
    names = [
        n["namespace_name"] for n in acme.ok("POST", "/v1/namespaces/list", json={})["results"]
    ]
    assert sorted(names) == ["default", "media"]
    assert acme.ok("GET", "/v1/namespaces/ns_acme_media")["description"] == "Videos and images"
    buckets = acme.ok("POST", "/v1/buckets/list", json={})["results"]
    assert [b["bucket_name"] for b in buckets] == ["images", "videos"]  # newest first
    videos = acme.ok("GET", "/v1/buckets/bkt_videos")
    assert videos["bucket_schema"]["properties"]["video"]["type"] == "video"
    connection = acme.ok("GET", "/v1/organizations/connections/conn_minio")
    assert connection["provider_config"]["credentials"] == {"type": "access_key"}
    sync = acme.ok("GET", "/v1/buckets/videos/syncs/sync_videos_in")
    assert sync["connection_id"] == "conn_minio"
    assert sync["source_path"] == "media/in"
    assert sync["polling_interval_seconds"] == 60
    assert sync["metadata"] == {"team": "video"}
    assert sync["status"] == "PENDING"
    assert sync["source_type"] == "s3"
    assert sync["next_sync_at"] == sync["created_at"]
    syncs = acme.ok("POST", "/v1/buckets/videos/syncs/list", json={})["results"]
    paused = next(s for s in syncs if s["sync_config_id"] != "sync_videos_in")
    assert paused["status"] == "SUSPENDED"
    assert paused["paused"] is True
    assert paused["next_sync_at"] is None
    assert paused["sync_mode"] == "initial_only"
    objects = acme.ok("GET", "/v1/buckets/videos/objects")["results"]
    assert [o["blobs"][0]["properties"]["source_key"] for o in objects] == [
        "in/outro.mp4",
        "in/intro.mp4",
    ]
    intro = acme.ok("GET", "/v1/buckets/videos/objects/obj_intro")
    blob = intro["blobs"][0]
    assert blob["details"]["size_bytes"] == 1048576
    assert blob["details"]["mime_type"] == "video/mp4"
    assert blob["type"] == "video"
    assert blob["properties"]["source_bucket"] == "media"
    assert intro["source_details"] == [{"type": "bucket", "source_id": "sync_videos_in"}]


def test_seeded_syncs_keep_patch_semantics(client: TestClient) -> None:
    assert seed(client, example()).status_code == 200
    acme = Api(client, ACME_KEY, namespace="media")
    path = "/v1/buckets/videos/syncs/sync_videos_in"
    before = acme.ok("GET", path)
    after = acme.ok("PATCH", path, json={"description": "Pause", "is_active": False})
    changed = {k for k in before if before[k] != after[k]}
    assert changed == {"description", "is_active", "updated_at", "next_sync_at"}
    assert after["next_sync_at"] is None
    assert acme.patch(path, json={"sync_config_id": "x"}).status_code == 422
    assert acme.patch(path, json={"batch_size": None}).status_code == 422


def test_fixture_keys_authenticate_and_see_only_their_organization(
    client: TestClient, api: Api
) -> None:
    assert seed(client, example()).status_code == 200
    assert Api(client, ACME_KEY).get("/v1/buckets").status_code == 200
    # the default organization's key does not see acme's records
    assert (
        api.get("/v1/buckets/bkt_videos", headers={"X-Namespace": "ns_acme_media"}).status_code
        == 404
    )


def test_a_fixture_adds_to_an_existing_organization(client: TestClient, api: Api) -> None:
    document = {
        "organizations": [
            {
                "name": "default",
                "api_keys": [API_KEY, "sk_second_key_for_default"],
                "namespaces": [{"namespace_name": "extra"}],
            }
        ]
    }
    response = seed(client, document)
    assert response.status_code == 200, response.text
    assert response.json()["created"]["api_keys"] == 1  # the first was its key already
    assert response.json()["created"]["namespaces"] == 1
    second = Api(client, "sk_second_key_for_default", namespace="extra")
    assert second.get("/v1/buckets").status_code == 200


def test_a_namespace_named_alone_takes_the_fixture_s_buckets_into_the_stored_one(
    client: TestClient, api: Api
) -> None:
    """The usual fixture: buckets in the ``default`` namespace every organization has."""
    default_id = api.ok("GET", "/v1/namespaces/default")["namespace_id"]
    document = {
        "organizations": [
            {
                "name": "default",
                "namespaces": [
                    {
                        "namespace_name": "default",
                        "buckets": [{"bucket_name": "seeded", "bucket_schema": {"properties": {}}}],
                    }
                ],
            }
        ]
    }
    response = seed(client, document)
    assert response.status_code == 200, response.text
    assert response.json()["created"]["namespaces"] == 0
    assert response.json()["created"]["buckets"] == 1
    bucket = api.ok("GET", "/v1/buckets/seeded")
    assert bucket["namespace_id"] == default_id


# --- problems: every one, with its place; nothing applied ----------------------------------

MANY_PROBLEMS = """\
organizations:
  - name: acme
    api_keys: [short, sk_test_primary_key_0123456789abcdef]
    connections:
      - name: minio
        provider_type: s3
        provider_config: {credentials: {type: access_key, access_key_id: ""}}
    namespaces:
      - namespace_name: media
        namespace_id: ns_bad id
        buckets:
          - bucket_name: videos
            bucket_schema: {properties: {video: {type: video}}}
            syncs:
              - connection_id: nowhere
                source_path: media/in
              - connection_id: minio
                source_path: media/in
                polling_interval_seconds: 5
                batch_size: "3"
                sync_mode: one_time
                bogus: 1
                objects:
                  - source_key: a.mp4
                  - source_key: a.mp4
                  - {size_bytes: -1}
      - namespace_name: default
      - namespace_name: default
  - name: other
    namespaces: {}
"""


def _places(body: dict[str, Any]) -> dict[str, str]:
    return {e["path"]: e["message"] for e in body["error"]["details"]["validation_errors"]}


def test_every_problem_is_reported_with_its_place_and_nothing_is_applied(
    client: TestClient, database: Database
) -> None:
    before = dump(database)
    response = seed(client, yaml.safe_load(MANY_PROBLEMS))
    assert response.status_code == 422
    body = response.json()
    assert body["error"]["type"] == "ValidationError"
    places = _places(body)
    sync = "organizations[0].namespaces[0].buckets[0].syncs[1]"
    expected = {
        "organizations[0].api_keys[0]",
        # paths the document has: no union branch names (pydantic puts "access_key" in)
        "organizations[0].connections[0].provider_config.credentials.access_key_id",
        "organizations[0].connections[0].provider_config.credentials.secret_access_key",
        "organizations[0].namespaces[0].namespace_id",
        f"{sync}.polling_interval_seconds",
        f"{sync}.batch_size",
        f"{sync}.sync_mode",
        f"{sync}.bogus",
        f"{sync}.objects[1].source_key",
        f"{sync}.objects[2].source_key",
        f"{sync}.objects[2].size_bytes",
        "organizations[0].namespaces[2].namespace_name",
        "organizations[1].namespaces",
    }
    assert expected <= set(places), sorted(places)
    assert "used twice" in places["organizations[0].namespaces[2].namespace_name"]
    for item in body["error"]["details"]["validation_errors"]:
        assert item["location"][0] == "body"
        # Every part a string, list indexes too, as in every other 422 (D6).
        assert all(isinstance(part, str) for part in item["location"]), item
    assert dump(database) == before


def test_conflicts_with_stored_records_are_problems_with_their_places(
    client: TestClient, api: Api, database: Database
) -> None:
    api.make_namespace("taken")
    api.make_connection("minio")
    other = {
        "organizations": [
            {"name": "acme", "api_keys": [API_KEY], "namespaces": [{"namespace_name": "fine"}]},
            {
                "name": "default",
                "internal_id": "int_not_its_id",
                "namespaces": [
                    {"namespace_name": "taken", "description": "not the stored one's"},
                    {
                        "namespace_name": "fresh",
                        "buckets": [
                            {
                                "bucket_name": "b",
                                "bucket_schema": {"properties": {}},
                                "syncs": [
                                    {"connection_id": "minio", "source_path": "x/y"},
                                    {"connection_id": "absent", "source_path": "x/y"},
                                ],
                            }
                        ],
                    },
                ],
                "connections": [
                    {
                        "name": "minio",
                        "provider_type": "google_drive",
                        "provider_config": {
                            "credentials": {
                                "type": "oauth",
                                "client_id": "c",
                                "client_secret": "s",
                                "refresh_token": "r",
                            }
                        },
                    }
                ],
            },
        ]
    }
    before = dump(database)
    response = seed(client, other)
    assert response.status_code == 422, response.text
    places = _places(response.json())
    assert set(places) == {
        "organizations[0].api_keys[0]",
        "organizations[1].internal_id",
        "organizations[1].namespaces[0].namespace_name",
        "organizations[1].namespaces[1].buckets[0].syncs[1].connection_id",
        "organizations[1].connections[0].name",
    }, places
    assert "another organization" in places["organizations[0].api_keys[0]"]
    assert dump(database) == before
    # An id already taken, by the records just made through the API.
    bucket = api.make_bucket("videos")
    response = seed(
        client,
        {
            "organizations": [
                {
                    "name": "acme",
                    "namespaces": [
                        {
                            "namespace_name": "media",
                            "buckets": [
                                {
                                    "bucket_id": bucket["bucket_id"],
                                    "bucket_name": "videos",
                                    "bucket_schema": {"properties": {}},
                                }
                            ],
                        }
                    ],
                }
            ]
        },
    )
    assert _places(response.json()) == {
        "organizations[0].namespaces[0].buckets[0].bucket_id": "the id is taken by a bucket already"
    }


def test_a_sync_may_use_a_connection_stored_before(client: TestClient, api: Api) -> None:
    api.make_connection("minio")
    document = {
        "organizations": [
            {
                "name": "default",
                "namespaces": [
                    {
                        "namespace_name": "seeded",
                        "buckets": [
                            {
                                "bucket_name": "b",
                                "bucket_schema": {"properties": {}},
                                "syncs": [{"connection_id": "minio", "source_path": "x/y"}],
                            }
                        ],
                    }
                ],
            }
        ]
    }
    assert seed(client, document).status_code == 200


@pytest.mark.parametrize(
    ("document", "place"),
    [
        (None, "(document)"),
        ([], "(document)"),
        ({"organizations": "x"}, "organizations"),
        ({}, "organizations"),
        ({"organizations": [], "extra": 1}, "extra"),
        (
            {"organizations": [{"name": "a", "internal_id": "org_x"}]},
            "organizations[0].internal_id",
        ),
        (
            {"organizations": [{"name": "a", "api_keys": ["sk_with space inside"]}]},
            "organizations[0].api_keys[0]",
        ),
    ],
)
def test_malformed_documents_are_422_naming_the_place(
    client: TestClient, document: Any, place: str
) -> None:
    response = seed(client, document)
    assert response.status_code == 422
    assert place in _places(response.json())


def test_a_fixture_beyond_the_record_limit_is_refused(client: TestClient) -> None:
    keys = [f"sk_key_number_{i:06d}" for i in range(MAX_SEED_RECORDS + 1)]
    from app.admin.seed import SeedError, check_document

    with pytest.raises(SeedError) as caught:
        check_document({"organizations": [{"name": "big", "api_keys": keys}]})
    assert caught.value.problems[0].type == "too_many_records"


def test_an_empty_seed_body_is_a_422(client: TestClient) -> None:
    response = client.post("/_mock/seed", headers=ADMIN_HEADERS)
    assert response.status_code == 422


def test_the_seed_route_needs_the_admin_token(client: TestClient) -> None:
    response = client.post(
        "/_mock/seed", headers={"Authorization": f"Bearer {API_KEY}"}, json=example()
    )
    assert response.status_code == 401


# --- files: YAML and JSON, lines ------------------------------------------------------------


def test_problems_in_files_carry_their_lines_in_yaml_and_json(tmp_path: Path) -> None:
    from app.admin.seed import SeedError, check_document, read_fixture_file

    yaml_file = tmp_path / "f.yaml"
    yaml_file.write_text(MANY_PROBLEMS)
    parsed = read_fixture_file(str(yaml_file))
    with pytest.raises(SeedError) as caught:
        check_document(parsed.data, parsed.lines)
    lines = {p.place: p.line for p in caught.value.problems}
    sync: tuple[str | int, ...] = ("organizations", 0, "namespaces", 0, "buckets", 0, "syncs", 1)
    assert lines[(*sync, "polling_interval_seconds")] == 19
    assert lines[(*sync, "batch_size")] == 20
    assert lines[(*sync, "objects", 2, "source_key")] == 26  # missing: at its record

    json_file = tmp_path / "f.json"
    json_file.write_text(json.dumps(yaml.safe_load(MANY_PROBLEMS), indent=2))
    parsed = read_fixture_file(str(json_file))
    with pytest.raises(SeedError) as caught:
        check_document(parsed.data, parsed.lines)
    text = json_file.read_text().splitlines()
    for problem in caught.value.problems:
        assert problem.line is not None
        if isinstance(problem.place[-1], str) and problem.place[-1] in ("batch_size",):
            assert '"batch_size"' in text[problem.line - 1]


def test_syntax_errors_and_duplicate_keys_are_reported_with_lines(tmp_path: Path) -> None:
    from app.admin.seed import SeedError, read_fixture_file

    broken = tmp_path / "broken.yaml"
    broken.write_text("organizations:\n  - name: a\n    api_keys: [unclosed\n")
    with pytest.raises(SeedError) as caught:
        read_fixture_file(str(broken))
    assert caught.value.problems[0].line is not None

    twice = tmp_path / "twice.yaml"
    twice.write_text("organizations:\n  - name: a\n    name: b\n")
    with pytest.raises(SeedError) as caught:
        read_fixture_file(str(twice))
    assert [(p.place, p.line) for p in caught.value.problems] == [(("organizations", 0, "name"), 3)]


# --- the command line, against a real server ------------------------------------------------


def test_seed_example_prints_a_fixture_the_cli_loads_while_a_server_runs(tmp_path: Path) -> None:
    printed = run_cli("seed", "--example")
    assert printed.returncode == 0
    assert printed.stdout == EXAMPLE_FIXTURE
    fixture = tmp_path / "fixture.yaml"
    fixture.write_text(printed.stdout)
    with ServerProcess(tmp_path / "mock.db") as server:
        loaded = run_cli("seed", str(fixture), "--database-url", server.database_url)
        assert loaded.returncode == 0, loaded.stderr
        assert loaded.stdout.strip() == (
            f"mixpeek-mock: seeded from {fixture}: 1 organization, 1 API key, 2 namespaces,"
            " 1 connection, 2 buckets, 2 syncs, 2 objects"
        )
        headers = {"Authorization": f"Bearer {ACME_KEY}", "X-Namespace": "media"}
        response = httpx2.get(
            f"{server.url}/v1/buckets/bkt_videos/syncs/sync_videos_in", headers=headers
        )
        assert response.status_code == 200
        # Loading it again conflicts: each problem on its own line, exit 1, nothing changed.
        again = run_cli("seed", str(fixture), "--database-url", server.database_url)
        assert again.returncode == 1
        lines = again.stderr.splitlines()
        assert lines[0].startswith("mixpeek-mock: the fixture")
        assert f"  {fixture}:24: organizations[0].namespaces[0].namespace_name:" in "\n".join(lines)
        assert len(lines) == 8


def test_seed_reads_json_from_standard_input(tmp_path: Path) -> None:
    database_url = f"sqlite:///{tmp_path / 'mock.db'}"
    loaded = run_cli("seed", "-", "--database-url", database_url, stdin=json.dumps(example()))
    assert loaded.returncode == 0, loaded.stderr
    assert "1 organization" in loaded.stdout


def test_serve_seed_loads_before_serving_and_a_bad_fixture_stops_the_start(
    tmp_path: Path,
) -> None:
    fixture = tmp_path / "fixture.yaml"
    fixture.write_text(EXAMPLE_FIXTURE)
    with ServerProcess(tmp_path / "mock.db", extra_args=("--seed", str(fixture))) as server:
        headers = {"Authorization": f"Bearer {ACME_KEY}", "X-Namespace": "media"}
        assert httpx2.get(f"{server.url}/v1/buckets/videos", headers=headers).status_code == 200
        assert "seeded from" in server.log()
    bad = tmp_path / "bad.yaml"
    bad.write_text(MANY_PROBLEMS)
    server = ServerProcess(tmp_path / "other.db", extra_args=("--seed", str(bad)))
    with pytest.raises(RuntimeError, match="server exited early"):
        server.start()
    log = server.log()
    assert "polling_interval_seconds" in log
    assert f"{bad}:19:" in log
    assert server.process is not None
    assert server.process.returncode == 1
    assert not (tmp_path / "other.db").exists()


def test_serve_seed_stops_on_a_conflict_with_the_database_and_changes_nothing(
    tmp_path: Path,
) -> None:
    fixture = tmp_path / "fixture.yaml"
    fixture.write_text(EXAMPLE_FIXTURE)
    database_url = f"sqlite:///{tmp_path / 'mock.db'}"
    assert run_cli("seed", str(fixture), "--database-url", database_url).returncode == 0
    database = Database.open(database_url)
    try:
        before = dump(database)
    finally:
        database.close()
    server = ServerProcess(tmp_path / "mock.db", api_key=None, extra_args=("--seed", str(fixture)))
    with pytest.raises(RuntimeError, match="server exited early"):
        server.start()
    assert f"{fixture}:24: organizations[0].namespaces[0].namespace_name:" in server.log()
    assert server.process is not None
    assert server.process.returncode == 1
    database = Database.open(database_url)
    try:
        assert dump(database) == before
    finally:
        database.close()


def test_the_readme_shows_the_example_as_printed() -> None:
    readme = (Path(__file__).parent.parent / "README.md").read_text()
    assert f"```yaml\n{EXAMPLE_FIXTURE}```" in readme


def test_yaml_aliases_and_deep_nesting_are_refused_before_they_cost_anything(
    tmp_path: Path,
) -> None:
    from app.admin.seed import SeedError, parse_fixture_text

    laughs = "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 10)}]\n" for i in range(8)
    )
    with pytest.raises(SeedError) as caught:
        parse_fixture_text(laughs)
    assert caught.value.problems[0].type == "alias"
    assert caught.value.problems[0].line == 2
    for deep in ("[" * 100_000 + "]" * 100_000, "a: " + "[" * 100_000 + "]" * 100_000):
        with pytest.raises(SeedError) as caught:
            parse_fixture_text(deep)
        assert caught.value.problems[0].type in ("too_deep", "yaml_invalid")


def test_ids_left_out_are_repeatable_under_an_id_seed(
    tmp_path: Path, migrated_template: Path
) -> None:
    import shutil

    from app.main import create_app
    from tests.conftest import server_settings

    document = example()
    # Leave the ids out: the server makes them.
    media = document["organizations"][0]["namespaces"][0]
    del media["namespace_id"], media["buckets"][0]["bucket_id"]
    made = []
    for run in range(2):
        path = tmp_path / f"mock{run}.db"
        shutil.copyfile(migrated_template, path)
        app = create_app(server_settings(f"sqlite:///{path}", id_seed="seeded"))
        with TestClient(app) as client:
            assert seed(client, document).status_code == 200
            acme = Api(client, ACME_KEY, namespace="media")
            made.append(acme.ok("GET", "/v1/buckets/videos")["bucket_id"])
    assert made[0] == made[1]
