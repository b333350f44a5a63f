"""The database file on disk: created readable and writable by its owner only.

The file holds storage connections' credentials in clear (a sync needs them to reach the
store), so nobody else on the machine may read it. It is created with mode 0600 before SQLite
first opens it; SQLite then gives the ``-wal`` and ``-shm`` files it creates beside it the
database file's own mode, whatever the umask. A file that already exists keeps the mode its
owner gave it.
"""

import os
from pathlib import Path

PRIVATE_MODE = 0o600


def create_private_file(path: str) -> None:
    """Create ``path`` (and its folder) as an empty owner-only file, unless it exists."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_MODE)
    except FileExistsError:
        return
    os.close(descriptor)
