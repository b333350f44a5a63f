"""What the database file reveals to the rest of the machine, and what it keeps of keys.

The file holds connection credentials in clear, so it and its ``-wal`` and ``-shm`` are
created readable by the owner only (0600), whoever creates them (the server, ``keys create``,
Alembic run on its own) and whatever the umask; a file that exists keeps its mode. Of an API
key, the file keeps only the hash and ``sk_`` with four characters.
"""

import asyncio
import contextlib
import os
import sqlite3
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic import command

from app.accounts import service as accounts
from app.bootstrap import prepare_database
from app.db.checkpoint import Checkpointer
from app.db.database import Database, connect
from app.db.migrate import alembic_config
from app.settings import Settings
from tests.server_process import EXECUTABLE


@contextlib.contextmanager
def umask(mask: int) -> Iterator[None]:
    previous = os.umask(mask)
    try:
        yield
    finally:
        os.umask(previous)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def files_of(path: Path) -> list[Path]:
    """The database file and the WAL and shared-memory files SQLite keeps beside it."""
    return [path, Path(f"{path}-wal"), Path(f"{path}-shm")]


def assert_owner_only(path: Path) -> None:
    for file in files_of(path):
        assert file.exists(), file
        assert mode(file) == 0o600, f"{file} has mode {mode(file):o}"


def test_a_new_database_and_its_wal_are_owner_only_whatever_the_umask(tmp_path: Path) -> None:
    path = tmp_path / "new" / "mock.db"
    with umask(0):
        conn = connect(f"sqlite:///{path}")
        conn.execute("CREATE TABLE probe (x)")
        conn.execute("INSERT INTO probe VALUES (1)")
        # While the connection is open the WAL and shared-memory files exist.
        assert_owner_only(path)
        conn.close()
    assert mode(path) == 0o600


def test_an_existing_file_keeps_its_mode(tmp_path: Path) -> None:
    path = tmp_path / "shared.db"
    path.touch()
    path.chmod(0o640)
    with umask(0o022):
        conn = connect(f"sqlite:///{path}")
        conn.execute("CREATE TABLE probe (x)")
        assert mode(path) == 0o640
        assert mode(Path(f"{path}-wal")) == 0o640  # SQLite copies the database's mode
        conn.close()


def test_alembic_on_its_own_creates_an_owner_only_file(tmp_path: Path) -> None:
    path = tmp_path / "alembic.db"
    with umask(0):
        command.upgrade(alembic_config(f"sqlite:///{path}"), "head")
        assert mode(path) == 0o600
        # Any later connection, not only this server's, makes its WAL as private.
        with contextlib.closing(sqlite3.connect(path)) as conn:
            conn.execute("INSERT INTO organizations VALUES ('int_x', 'x', '2026-01-01')")
            conn.commit()
            assert_owner_only(path)


def test_the_checkpointer_connection_creates_nothing_looser(tmp_path: Path) -> None:
    path = tmp_path / "checkpointed.db"

    async def checkpoint_a_few_times() -> None:
        checkpointer = Checkpointer(f"sqlite:///{path}", interval=0.01)
        checkpointer.start()
        await asyncio.sleep(0.05)
        await checkpointer.stop()

    with umask(0):
        asyncio.run(checkpoint_a_few_times())
    assert mode(path) == 0o600


@pytest.mark.e2e
def test_keys_create_on_a_new_database_makes_it_owner_only(tmp_path: Path) -> None:
    path = tmp_path / "cli" / "mock.db"
    result = subprocess.run(
        [EXECUTABLE, "keys", "create", "--database-url", f"sqlite:///{path}"],
        capture_output=True,
        text=True,
        env={"PATH": os.defpath},
        timeout=120,
        check=False,
        umask=0,
    )
    assert result.returncode == 0, result.stderr
    key = result.stdout.strip()
    assert mode(path) == 0o600
    for file in files_of(path):
        if file.exists():
            assert mode(file) == 0o600, file
    assert_keeps_at_most_the_prefix(path, key)


def assert_keeps_at_most_the_prefix(path: Path, key: str) -> None:
    """No run of ``key`` holding eight characters past the kept prefix (``sk_`` and four more)
    is anywhere in the files. Eight random characters turn up by chance once in 2**48; a run
    that holds fewer of them does not prove a leak: the kept prefix is stored, and the column
    stored after it starts with ``usr_``, so a key whose eighth character is ``u`` would show
    ``sk_xxxxu`` in one file in 64 without any of it having been stored."""
    contents = b"".join(file.read_bytes() for file in files_of(path) if file.exists())
    assert contents
    kept = len(accounts.key_prefix(key))
    for start in range(len(key) - 7):
        window = key[start : max(start + 8, kept + 8)]
        assert window.encode() not in contents, f"{window!r} of the key is stored"


def test_the_database_keeps_only_sk_and_four_characters_of_a_key(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'keys.db'}"
    database = Database.open(url)
    try:
        prepare_database(database, Settings(database_url=url), issue_key=False)
        organization = accounts.first_organization(database)
        assert organization is not None
        keys = [accounts.create_key(database, organization) for _ in range(3)]
        prefixes = database.all("SELECT key_prefix FROM api_keys ORDER BY created_at")
        assert [row["key_prefix"] for row in prefixes] == [key[:7] for key in keys]
        for key in keys:
            assert_keeps_at_most_the_prefix(tmp_path / "keys.db", key)
            assert accounts.find_principal(database, key) is not None
    finally:
        database.close()


@pytest.mark.parametrize(
    ("key", "kept"),
    [
        ("sk_AbCdEfGhIjKlMnOpQrStUvWxYz012345", "sk_AbCd"),
        ("sk_local_dev", "sk_lo"),  # a short key keeps at most a quarter of what follows sk_
        ("sk_abc", "sk_"),
        ("operator-chosen-secret", "oper"),
        ("short", "s"),
    ],
)
def test_what_is_kept_of_a_key(key: str, kept: str) -> None:
    assert accounts.key_prefix(key) == kept


def test_prefixes_kept_by_older_versions_are_shortened_at_start(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    key = "sk_OldKeyFromAnEarlierVersion0123456789"
    database = Database.open(url)
    try:
        settings = Settings(database_url=url, api_key=key)
        prepare_database(database, settings)
        database.execute("UPDATE api_keys SET key_prefix = ?", (key[:8],))

        prepare_database(database, settings)

        assert database.scalar("SELECT key_prefix FROM api_keys") == "sk_OldK"
        assert accounts.find_principal(database, key) is not None
    finally:
        database.close()
