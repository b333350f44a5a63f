"""The engine's file-selection rules (CONTRACT.md D20, D22), each read back through the objects
API after a real run against moto's S3 server.

A run's counts come from its job (``POST .../jobs``) and the sync's ``batches_created`` from
its metrics (``GET .../metrics``), as a user reads them.
"""

import hashlib
import math
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.objects_support import Store, blob_of


def sha(body: bytes) -> str:
    return "sha256:" + hashlib.sha256(body).hexdigest()


def last_job(store: Store, sync: dict[str, Any]) -> dict[str, Any]:
    path = f"/v1/buckets/{sync['bucket_id']}/syncs/{sync['sync_config_id']}/jobs"
    jobs: list[dict[str, Any]] = store.api.ok("POST", path)["results"]
    return jobs[0]  # newest first


def relative_keys(store: Store, prefix: str = "media/in/") -> set[str]:
    return {key.removeprefix(prefix) for key in store.keys()}  # noqa: SIM118


# --- source_path ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "form", ["{bucket}/media/in", "s3://{bucket}/media/in/", "/{bucket}/media/in/"]
)
def test_source_path_names_a_folder_never_a_prefix_of_names(store: Store, form: str) -> None:
    store.put("media/in/a.txt", b"a")
    store.put("media/in/deeper/b.txt", b"b")
    store.put("media/in-extra/c.txt", b"c")
    store.put("media/inside.txt", b"d")
    store.put("top.txt", b"e")
    store.run(store.make_sync(form.format(bucket=store.source)))
    assert store.keys() == {"media/in/a.txt", "media/in/deeper/b.txt"}


def test_a_source_path_of_the_bucket_alone_takes_every_file(store: Store) -> None:
    store.put("a.txt", b"a")
    store.put("media/in/b.txt", b"b")
    store.run(store.make_sync(f"s3://{store.source}"))
    assert store.keys() == {"a.txt", "media/in/b.txt"}


# --- file_filters: patterns -----------------------------------------------------------------------

FILES = {
    "clip.mp4": b"m" * 10,
    "CLIP2.MP4": b"M" * 11,
    "notes.txt": b"t" * 20,
    "raw/take1.mp4": b"r" * 30,
    "raw/deep/take2.mp4": b"d" * 40,
    "raw/deep/readme.txt": b"x" * 50,
    "docs/raw/manual.pdf": b"p" * 60,
}


@pytest.fixture
def files(store: Store) -> Store:
    for key, body in FILES.items():
        store.put(f"media/in/{key}", body)
    return store


@pytest.mark.parametrize(
    ("file_filters", "expected"),
    [
        pytest.param(
            {"include_patterns": ["*.mp4"]},
            {"clip.mp4", "raw/take1.mp4", "raw/deep/take2.mp4"},
            id="include-without-slash-matches-the-name-at-any-depth",
        ),
        pytest.param(
            {"include_patterns": ["raw/*.mp4"]},
            {"raw/take1.mp4"},
            id="include-with-slash-matches-the-path-and-star-stays-in-a-segment",
        ),
        pytest.param(
            {"include_patterns": ["raw/**"]},
            {"raw/take1.mp4", "raw/deep/take2.mp4", "raw/deep/readme.txt"},
            id="double-star-crosses-segments",
        ),
        pytest.param(
            {"include_patterns": ["**/*.mp4"]},
            {"clip.mp4", "raw/take1.mp4", "raw/deep/take2.mp4"},
            id="double-star-slash-also-matches-no-folder",
        ),
        pytest.param(
            {"include_patterns": ["raw"]},
            set(),
            id="a-name-pattern-is-not-a-folder",
        ),
        pytest.param(
            {"exclude_patterns": ["*.txt"]},
            {"clip.mp4", "CLIP2.MP4", "raw/take1.mp4", "raw/deep/take2.mp4", "docs/raw/manual.pdf"},
            id="exclude-without-slash",
        ),
        pytest.param(
            {"exclude_patterns": ["raw/**"]},
            {"clip.mp4", "CLIP2.MP4", "notes.txt", "docs/raw/manual.pdf"},
            id="exclude-with-slash-is-anchored-below-source-path",
        ),
        pytest.param(
            {"include_patterns": ["**/*.mp4", "*.txt"], "exclude_patterns": ["raw/deep/*"]},
            {"clip.mp4", "notes.txt", "raw/take1.mp4"},
            id="include-and-exclude-anded",
        ),
        pytest.param(
            {"extensions": [".mp4", "pdf"]},
            {"clip.mp4", "raw/take1.mp4", "raw/deep/take2.mp4", "docs/raw/manual.pdf"},
            id="extensions-are-include-patterns",
        ),
        pytest.param(
            {"min_size_bytes": 20, "max_size_bytes": 40},
            {"notes.txt", "raw/take1.mp4", "raw/deep/take2.mp4"},
            id="sizes-inclusive",
        ),
        pytest.param(
            {"include_patterns": ["*.mp4"], "min_size_bytes": 11, "max_size_bytes": 30},
            {"raw/take1.mp4"},
            id="patterns-and-sizes-anded",
        ),
        pytest.param(
            {"patterns": [r"\.mp4$"]},
            {"clip.mp4", "raw/take1.mp4", "raw/deep/take2.mp4"},
            id="regex-is-searched-for-case-sensitively",
        ),
        pytest.param(
            {"patterns": [r"(?i)^clip\d*\.mp4$", r"^raw/deep/"]},
            {"clip.mp4", "CLIP2.MP4", "raw/deep/take2.mp4", "raw/deep/readme.txt"},
            id="regexes-any-one-found-in-the-path-below-source-path",
        ),
        pytest.param(
            {"patterns": ["raw"]},
            {"raw/take1.mp4", "raw/deep/take2.mp4", "raw/deep/readme.txt", "docs/raw/manual.pdf"},
            id="regex-search-not-full-match",
        ),
        pytest.param(
            {"patterns": [r".*2\.mp4$"], "include_patterns": ["raw/**"]},
            {"raw/deep/take2.mp4"},
            id="regexes-and-globs-anded",
        ),
    ],
)
def test_file_filters_on_what_the_listing_shows(
    files: Store, file_filters: dict[str, Any], expected: set[str]
) -> None:
    files.run(files.make_sync(file_filters=file_filters))
    assert relative_keys(files) == expected


def test_modified_after_and_before(store: Store) -> None:
    store.put("media/in/a.txt", b"a")
    now = datetime.now(UTC)
    past, future = now - timedelta(hours=1), now + timedelta(hours=1)
    cases = [
        ({"modified_after": past.isoformat()}, {"a.txt"}),
        ({"modified_after": future.isoformat()}, set()),
        ({"modified_before": future.isoformat()}, {"a.txt"}),
        ({"modified_before": past.isoformat()}, set()),
        ({"modified_after": past.isoformat(), "modified_before": future.isoformat()}, {"a.txt"}),
    ]
    for index, (file_filters, expected) in enumerate(cases):
        bucket = store.make_bucket(f"times-{index}")
        store.run(store.make_sync(bucket=bucket, file_filters=file_filters))
        assert {k.removeprefix("media/in/") for k in store.keys(bucket)} == expected, file_filters


def test_mime_types_by_name_or_content_type_with_wildcards(store: Store) -> None:
    store.put("media/in/clip.mp4", b"v", ContentType="application/octet-stream")  # by name
    store.put("media/in/blob", b"w", ContentType="video/webm")  # by Content-Type
    store.put("media/in/photo.jpg", b"i", ContentType="image/jpeg")
    store.put("media/in/notes.txt", b"t", ContentType="text/plain")
    cases = [
        (["video/*"], {"clip.mp4", "blob"}),
        (["image/jpeg"], {"photo.jpg"}),
        (["VIDEO/MP4", "text/*"], {"clip.mp4", "notes.txt"}),
        (["audio/*"], set()),
    ]
    for index, (mime_types, expected) in enumerate(cases):
        bucket = store.make_bucket(f"mime-{index}")
        store.run(store.make_sync(bucket=bucket, file_filters={"mime_types": mime_types}))
        assert {k.removeprefix("media/in/") for k in store.keys(bucket)} == expected, mime_types


def test_metadata_filters_read_s3_user_metadata(store: Store) -> None:
    store.put("media/in/a.txt", b"a", Metadata={"team": "media", "rank": "5"})
    store.put("media/in/b.txt", b"b", Metadata={"team": "sales", "rank": "50"})
    store.put("media/in/c.txt", b"c")
    cases = [
        ([{"field": "team", "operator": "equals", "value": "media"}], {"a.txt"}),
        ([{"field": "Team", "value": "ale"}], {"b.txt"}),  # contains by default; names any case
        ([{"field": "team", "operator": "exists"}], {"a.txt", "b.txt"}),
        ([{"field": "rank", "operator": "gt", "value": 10}], {"b.txt"}),
        ([{"field": "team", "operator": "not_equals", "value": "media"}], {"b.txt", "c.txt"}),
        (
            [
                {"field": "team", "operator": "exists"},
                {"field": "rank", "operator": "lte", "value": 5},
            ],
            {"a.txt"},
        ),
    ]
    for index, (conditions, expected) in enumerate(cases):
        bucket = store.make_bucket(f"meta-{index}")
        store.run(store.make_sync(bucket=bucket, file_filters={"metadata_filters": conditions}))
        assert {k.removeprefix("media/in/") for k in store.keys(bucket)} == expected, conditions


def test_every_filter_key_is_anded(store: Store) -> None:
    body = b"x" * 100
    store.put("media/in/keep/a.mp4", body, Metadata={"team": "media"})
    store.put("media/in/keep/b.mp4", body + b"!", Metadata={"team": "sales"})  # metadata
    store.put("media/in/keep/c.mp4", b"x", Metadata={"team": "media"})  # size
    store.put("media/in/drop/d.mp4", body + b"?", Metadata={"team": "media"})  # pattern
    store.put("media/in/keep/e.txt", body + b".", Metadata={"team": "media"})  # mime type
    store.run(
        store.make_sync(
            file_filters={
                "include_patterns": ["keep/*"],
                "min_size_bytes": 50,
                "mime_types": ["video/*"],
                "metadata_filters": [{"field": "team", "operator": "equals", "value": "media"}],
                "modified_before": (datetime.now(UTC) + timedelta(hours=1)).isoformat(),
            }
        )
    )
    assert store.keys() == {"media/in/keep/a.mp4"}


# --- batches and limits ---------------------------------------------------------------------------


@pytest.mark.parametrize(("files", "batch_size"), [(7, 3), (6, 3), (5, 1), (4, 50)])
def test_batches_created_is_files_over_batch_size_rounded_up(
    store: Store, files: int, batch_size: int
) -> None:
    for index in range(files):
        store.put(f"media/in/{index}.txt", f"file {index}".encode())
    sync = store.make_sync(batch_size=batch_size)
    record = store.run(sync)
    assert len(store.objects()) == files
    assert record["total_files_synced"] == files
    metrics = store.api.ok(
        "GET", f"/v1/buckets/{sync['bucket_id']}/syncs/{sync['sync_config_id']}/metrics"
    )
    assert metrics["batches_created"] == math.ceil(files / batch_size)


def test_max_objects_per_run_caps_each_run(store: Store) -> None:
    for index in range(5):
        store.put(f"media/in/{index}.txt", f"file {index}".encode())
    store.settle()
    sync = store.make_sync(max_objects_per_run=2, batch_size=1)
    assert store.run(sync)["total_files_synced"] == 2
    assert len(store.objects()) == 2
    # A full run reads every file again, still at most 2: the objects it finds are unchanged.
    store.run(sync, full_sync=True)
    assert len(store.objects()) == 2


# --- incremental runs and full_sync ---------------------------------------------------------------


def test_the_next_run_takes_the_files_a_capped_run_left(store: Store) -> None:
    for index in range(5):
        store.put(f"media/in/{index}.txt", f"file {index}".encode())
    store.settle()  # the files are older than any later run's incremental cut
    sync = store.make_sync(max_objects_per_run=2, batch_size=1)
    store.run(sync)
    assert len(store.objects()) == 2
    store.run(sync)
    assert len(store.objects()) == 4
    store.run(sync)
    assert len(store.objects()) == 5


def test_an_incremental_run_takes_only_what_changed(store: Store) -> None:
    store.put("media/in/a.txt", b"a1")
    store.put("media/in/b.txt", b"b1")
    store.settle()
    sync = store.make_sync()
    store.run(sync)
    first = store.by_key()
    assert last_job(store, sync)["files_synced"] == 2

    store.settle()
    store.run(sync)  # nothing changed
    assert store.by_key() == first
    job = last_job(store, sync)
    assert (job["total_files"], job["files_synced"]) == (0, 0)

    store.put("media/in/a.txt", b"a2")  # modified
    store.put("media/in/c.txt", b"c1")  # new
    store.run(sync)
    after = store.by_key()
    assert set(after) == {"media/in/a.txt", "media/in/b.txt", "media/in/c.txt"}
    modified = after["media/in/a.txt"]
    assert modified["object_id"] == first["media/in/a.txt"]["object_id"]  # updated, not added
    assert blob_of(modified)["details"]["hash"] == sha(b"a2")
    assert modified["created_at"] == first["media/in/a.txt"]["created_at"]
    assert modified["updated_at"] > first["media/in/a.txt"]["updated_at"]
    assert after["media/in/b.txt"] == first["media/in/b.txt"]
    assert last_job(store, sync)["files_synced"] == 2


def test_a_full_sync_reads_every_file_again(store: Store) -> None:
    store.put("media/in/a.txt", b"a")
    store.put("media/in/b.txt", b"b")
    store.settle()
    sync = store.make_sync()
    store.run(sync)
    first = store.by_key()

    store.run(sync, full_sync=True)
    job = last_job(store, sync)
    assert job["metadata"]["full_sync"] is True
    assert job["total_files"] == 2  # every file, read again
    assert job["files_verified"] == 2  # and found unchanged
    assert store.by_key() == first  # same objects, same hashes


def test_a_file_rewritten_with_the_same_bytes_keeps_its_object(store: Store) -> None:
    store.put("media/in/a.txt", b"same")
    store.settle()
    sync = store.make_sync()
    store.run(sync)
    (first,) = store.objects()
    store.put("media/in/a.txt", b"same")
    store.run(sync)
    assert store.objects() == [first]


# --- skip_duplicates ------------------------------------------------------------------------------


def test_skip_duplicates_skips_content_the_bucket_holds_from_another_key(store: Store) -> None:
    store.put("media/in/a.txt", b"shared bytes")
    store.put("media/in/copy/a-again.txt", b"shared bytes")
    store.put("media/in/b.txt", b"other bytes")
    sync = store.make_sync(batch_size=1)  # the default: skip_duplicates true
    store.run(sync)

    objects = store.by_key()
    assert len(objects) == 2
    assert sorted(blob_of(item)["details"]["hash"] for item in objects.values()) == sorted(
        [sha(b"shared bytes"), sha(b"other bytes")]
    )
    job = last_job(store, sync)
    assert (job["files_synced"], job["files_verified"]) == (2, 1)

    # Content another sync of the bucket holds is a duplicate too.
    store.put("media/more/c.txt", b"other bytes")
    store.run(store.make_sync(f"{store.source}/media/more"))
    assert len(store.objects()) == 2


@pytest.mark.parametrize("batch_size", [1, 50])
def test_skip_duplicates_within_one_batch_or_across_batches(store: Store, batch_size: int) -> None:
    for index in range(3):
        store.put(f"media/in/{index}.txt", b"the same bytes")
    store.run(store.make_sync(batch_size=batch_size))
    assert len(store.objects()) == 1


def test_a_modified_file_updates_its_object_even_when_its_new_bytes_are_held_elsewhere(
    store: Store,
) -> None:
    store.put("media/in/a.txt", b"a's bytes")
    store.put("media/in/b.txt", b"b's bytes")
    store.settle()
    sync = store.make_sync()  # skip_duplicates: true
    store.run(sync)
    before = store.by_key()

    store.put("media/in/a.txt", b"b's bytes")  # a now holds what b holds
    store.run(sync)
    after = store.by_key()
    # a's object must describe a's file as it now is: its old hash is no file's content.
    assert after["media/in/a.txt"]["object_id"] == before["media/in/a.txt"]["object_id"]
    assert blob_of(after["media/in/a.txt"])["details"]["hash"] == sha(b"b's bytes")


def test_without_skip_duplicates_every_file_is_written(store: Store) -> None:
    store.put("media/in/a.txt", b"shared bytes")
    store.put("media/in/copy/a-again.txt", b"shared bytes")
    sync = store.make_sync(skip_duplicates=False)
    store.run(sync)
    objects = store.by_key()
    assert set(objects) == {"media/in/a.txt", "media/in/copy/a-again.txt"}
    assert {blob_of(item)["details"]["hash"] for item in objects.values()} == {sha(b"shared bytes")}
    job = last_job(store, sync)
    assert (job["files_synced"], job["files_verified"]) == (2, 0)


# --- odd keys -------------------------------------------------------------------------------------


def test_odd_keys_keep_their_names(store: Store) -> None:
    long_name = "L" * (1000 - len("media/in/") - len(".bin")) + ".bin"
    odd = {
        "media/in/with spaces/a file.txt": "a file.txt",
        "media/in/ünïcödé/日本語 ファイル.mp4": "日本語 ファイル.mp4",
        "media/in/emoji 🎬.mov": "emoji 🎬.mov",
        "media/in/plus+and&amp;=.txt": "plus+and&amp;=.txt",
        f"media/in/{long_name}": long_name,
    }
    assert len(f"media/in/{long_name}".encode()) == 1000
    for index, key in enumerate(odd):
        store.put(key, f"odd {index}".encode())
    store.run(store.make_sync())

    objects = store.by_key()
    assert set(objects) == set(odd)
    for key, filename in odd.items():
        blob = blob_of(objects[key])
        assert blob["details"]["filename"] == filename
        assert blob["properties"] == {"source_bucket": store.source, "source_key": key}
        got = store.api.ok("GET", f"{store.objects_path}/{objects[key]['object_id']}")
        assert blob_of(got)["properties"]["source_key"] == key


def test_a_source_key_never_has_two_objects(store: Store) -> None:
    for index in range(4):
        store.put(f"media/in/{index}.txt", f"v1 {index}".encode())
    sync = store.make_sync(batch_size=2)
    store.run(sync)
    for index in range(4):
        store.put(f"media/in/{index}.txt", f"v2 {index}".encode())
    store.run(sync)
    store.run(sync, full_sync=True)
    objects = store.by_key()  # asserts one object per key
    assert len(objects) == 4
    for index in range(4):
        assert blob_of(objects[f"media/in/{index}.txt"])["details"]["hash"] == sha(
            f"v2 {index}".encode()
        )
