"""The database file on disk: created readable and writable by its owner only, and refused
at start, with the reason, when this process cannot write it.

The file holds storage connections' credentials in clear (a sync needs them to reach the
store), so nobody else on the machine may read it. It is created with mode 0600 before SQLite
first opens it; SQLite then gives the ``-wal`` and ``-shm`` files it creates beside it the
database file's own mode, whatever the umask. A file that already exists keeps the mode its
owner gave it.

A database SQLite can open only for reading (a read-only file or mount, a file owned by another
user) would give a server that answers reads and fails every write, so opening it is refused
(``DatabaseAccessError``: one line naming the path and the reason), as is a path that cannot be
a file at all (a folder, a path under a file).
"""

import errno
import os
from pathlib import Path

PRIVATE_MODE = 0o600

# Said when the operating system refused: the usual cause in a container is a bind mount owned
# by another user than the one the server runs as.
_PERMISSION_HINT = (
    " (the server must be able to write the file and its folder; in a container, run it as"
    ' the folder\'s owner: docker run --user "$(id -u):$(id -g)" ...)'
)


class DatabaseAccessError(Exception):
    """The database cannot be opened for writing; the message names the path and the reason."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"cannot use the database {os.path.abspath(path)}: {reason}")


def refused(path: str, exc: OSError | Exception, doing: str) -> DatabaseAccessError:
    """The error for an operating-system or SQLite failure while ``doing`` something."""
    if isinstance(exc, OSError):
        reason = exc.strerror or str(exc)
        hint = _PERMISSION_HINT if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS) else ""
    else:
        reason = str(exc)
        hint = _PERMISSION_HINT if "readonly" in reason or "unable to open" in reason else ""
    return DatabaseAccessError(path, f"{doing}: {reason}{hint}")


def check_path(path: str) -> None:
    """Refuse a path that can never be a database file: a folder, or one under a file."""
    target = Path(path)
    if target.is_dir():
        raise DatabaseAccessError(path, "it is a folder, not a file")
    for parent in target.parents:
        if parent.exists():
            if not parent.is_dir():
                raise DatabaseAccessError(path, f"{parent} is a file, not a folder")
            break


def create_private_file(path: str) -> None:
    """Create ``path`` (and its folder) as an empty owner-only file, unless it exists."""
    check_path(path)
    try:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise refused(path, exc, "cannot create its folder") from exc
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_MODE)
    except FileExistsError:
        return
    except OSError as exc:
        raise refused(path, exc, "cannot create the file") from exc
    os.close(descriptor)
