"""Committed writes reach the database file itself, not only the WAL, without any request
paying for it (app/db/checkpoint.py)."""

import sqlite3
import time
from typing import Any

import pytest

from app.settings import Settings
from tests.conftest import Api


@pytest.fixture
def backend() -> str:
    """SQLite only: the WAL and its checkpoints are SQLite's."""
    return "sqlite"


def _checkpointed_description(settings: Settings, sync_config_id: str) -> Any:
    """The description as the main file holds it, ignoring the WAL (immutable=1)."""
    path = settings.database_url.removeprefix("sqlite:///")
    with sqlite3.connect(f"file:{path}?immutable=1", uri=True) as conn:
        row = conn.execute(
            "SELECT description FROM sync_config WHERE sync_config_id = ?",
            (sync_config_id,),
        ).fetchone()
    return None if row is None else row[0]


def test_writes_are_checkpointed_into_the_database_file(
    api: Api, sync: dict[str, Any], settings: Settings
) -> None:
    for number in range(20):
        api.ok("PATCH", api.sync_path(sync), json={"description": f"write {number}"})
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if _checkpointed_description(settings, sync["sync_config_id"]) == "write 19":
            return
        time.sleep(0.2)
    raise AssertionError("the last write never reached the database file")
