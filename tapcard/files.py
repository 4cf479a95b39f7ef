"""Private files at rest: folders 0700, files 0600, whatever the process umask.

The hub's database holds names, phones, addresses and PIN hashes; its backups, keys and
broker passwords are as secret; a device's store holds its unsent intents. All of them
are created through here. A mode given to mkdir or open is only an upper bound (the
umask takes bits away, never adds them), so each path is chmod-ed to the exact mode after
it exists; a folder or file made earlier with looser modes is tightened the same way.

SQLite creates a database's -wal and -shm files with the mode of the database file, so
a database file created here before SQLite first opens it keeps all three private.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Final

FOLDER_MODE: Final = 0o700
FILE_MODE: Final = 0o600
SQLITE_SIDE_SUFFIXES: Final = ("-wal", "-shm", "-journal")


def private_folder(path: Path) -> Path:
    """`path` (and missing parents) as a folder only its owner can enter."""
    path.mkdir(parents=True, exist_ok=True, mode=FOLDER_MODE)
    os.chmod(path, FOLDER_MODE)
    return path


def private_file(path: Path) -> Path:
    """`path` as a file only its owner can read: created empty when missing."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, FILE_MODE)
    try:
        os.fchmod(fd, FILE_MODE)
    finally:
        os.close(fd)
    return path


def private_sqlite(path: Path) -> Path:
    """A SQLite database file (and its folder) private before SQLite opens it; side files
    an older version left readable are tightened too."""
    private_folder(path.parent)
    private_file(path)
    for suffix in SQLITE_SIDE_SUFFIXES:
        side = path.with_name(path.name + suffix)
        if side.exists():
            os.chmod(side, FILE_MODE)
    return path


def write_private(path: Path, data: bytes) -> None:
    """Write `data` to a private file atomically (temp file, fsync, rename)."""
    private_folder(path.parent)
    temp = path.with_name(path.name + ".tmp")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
    with os.fdopen(fd, "wb") as handle:
        os.fchmod(handle.fileno(), FILE_MODE)
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temp, path)


def mode_of(path: Path) -> int:
    """The permission bits of `path` (for checks and tests)."""
    return path.stat().st_mode & 0o777
