"""`tapcard hub backup` and `tapcard hub restore`.

SQLite: the online backup API (`sqlite3.Connection.backup`) copies a consistent snapshot
while the hub keeps writing (WAL readers do not block the writer); the copy is checked
(`PRAGMA integrity_check`), fsynced and renamed into place, so a half-written backup never
carries a backup's name. PostgreSQL: `pg_dump -Fc` into a temporary name, then renamed.
The folder keeps the newest `keep` backups.

Restore goes into a fresh database only: an existing SQLite file (a corrupted one, say) is
moved aside with `--force`, never overwritten; a PostgreSQL database must be empty. What
a restored hub is missing (intents booked after the backup) comes back on its own: devices
keep each intent in their outbox until the hub's result arrives, and resend it.

Backups and restored databases are private from their first byte: the folder is made
0700 and each file 0600 before SQLite or pg_dump writes into it (tapcard.files).

The hub's keys (`<data>/keys`, `<data>/pki`) are not in these backups: they rarely change
and must not travel with every copy of the ledger. Keep one offline copy of them.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import sqlite3
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import sqlalchemy as sa

from hub.config import HubConfig
from hub.progress import Progress, no_progress
from tapcard.errors import TapcardError
from tapcard.files import FILE_MODE, private_file, private_folder

BACKUP_PREFIX: Final = "hub-"
SQLITE_SUFFIX: Final = ".sqlite3"
PG_SUFFIX: Final = ".pgdump"
KEEP_DEFAULT: Final = 14  # two weeks of nightly backups
BACKUP_STEPS: Final = 3  # copy, check, rotate (the progress a watcher sees)
RESTORE_STEPS: Final = 3  # check the backup, copy, check the copy
KEEP_MAX: Final = 10_000
PG_DUMP_TIMEOUT_S: Final = 3600
BUSY_TIMEOUT_MS: Final = 10_000
assert 1 <= KEEP_DEFAULT <= KEEP_MAX


class BackupError(TapcardError):
    """A backup or restore that did not complete; nothing was replaced."""


@dataclass(frozen=True, slots=True)
class BackupResult:
    path: Path
    size_bytes: int
    removed: tuple[Path, ...]  # older backups rotated out


def _sqlite_path(url: str) -> Path:
    parsed = sa.engine.make_url(url)
    if not parsed.database or parsed.database == ":memory:":
        raise BackupError(f"{url} is not a SQLite file")
    return Path(parsed.database)


def _pg_url(url: str) -> str:
    """The libpq form of a SQLAlchemy URL (pg_dump does not know `+psycopg`)."""
    parsed = sa.engine.make_url(url).set(drivername="postgresql")
    return parsed.render_as_string(hide_password=False)


def _stamp() -> str:
    # A file name for operators, by the machine's clock like the files beside it.
    return dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S%fZ")


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _check_sqlite(path: Path) -> None:
    try:
        with sqlite3.connect(path) as conn:
            found = conn.execute("PRAGMA integrity_check").fetchone()
            conn.execute("SELECT version_num FROM alembic_version").fetchone()
        conn.close()
    except sqlite3.DatabaseError as exc:
        raise BackupError(f"{path} is not a readable hub database: {exc}") from None
    if found is None or found[0] != "ok":
        raise BackupError(f"{path} fails its integrity check: {found}")


def _copy_sqlite(source: Path, target: Path) -> None:
    """Online backup of `source` into a new file `target` (fsynced)."""
    src = sqlite3.connect(source, timeout=BUSY_TIMEOUT_MS / 1000)
    dst = sqlite3.connect(target)
    try:
        # All pages in one step: one read snapshot, so the copy is consistent even
        # while the hub commits (it never blocks the hub's writer in WAL mode).
        src.backup(dst, pages=-1)
        dst.execute("PRAGMA journal_mode=DELETE")  # one self-contained file
    except sqlite3.DatabaseError as exc:
        raise BackupError(f"cannot back up {source}: {exc}") from None
    finally:
        dst.close()
        src.close()
    with target.open("rb+") as handle:
        os.fsync(handle.fileno())


def backup(
    config: HubConfig, dest: Path, keep: int = KEEP_DEFAULT, progress: Progress = no_progress
) -> BackupResult:
    """A new backup of the hub's database in `dest`, keeping the newest `keep`; its
    steps (copy, check, rotate) reported to `progress`."""
    if not 1 <= keep <= KEEP_MAX:
        raise BackupError(f"--keep must be 1..{KEEP_MAX}")
    private_folder(dest)
    sqlite = config.db_url.startswith("sqlite")
    final = dest / f"{BACKUP_PREFIX}{_stamp()}{SQLITE_SUFFIX if sqlite else PG_SUFFIX}"
    temp = final.with_name(final.name + ".partial")
    try:
        private_file(temp)  # before the first byte of the copy lands in it
        progress("copying", 0, BACKUP_STEPS)
        if sqlite:
            source = _sqlite_path(config.db_url)
            if not source.exists():
                raise BackupError(f"{source} does not exist")
            _copy_sqlite(source, temp)
            progress("checking the copy", 1, BACKUP_STEPS)
            _check_sqlite(temp)
        else:
            _pg_dump(config.db_url, temp)
        os.chmod(temp, FILE_MODE)  # pg_dump may have made the file anew
        os.replace(temp, final)
        _fsync_dir(dest)
    finally:
        temp.unlink(missing_ok=True)
    progress("rotating old backups", 2, BACKUP_STEPS)
    removed = rotate(dest, keep)
    progress("done", BACKUP_STEPS, BACKUP_STEPS)
    assert final.exists() and final not in removed
    return BackupResult(final, final.stat().st_size, removed)


def _pg_dump(url: str, target: Path) -> None:
    binary = shutil.which("pg_dump")
    if binary is None:
        raise BackupError("pg_dump is not installed: `apt-get install postgresql-client`")
    try:
        done = subprocess.run(
            [
                binary,
                "--format=custom",
                "--no-owner",
                f"--file={target}",
                f"--dbname={_pg_url(url)}",
            ],
            capture_output=True,
            timeout=PG_DUMP_TIMEOUT_S,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise BackupError(f"pg_dump took longer than {PG_DUMP_TIMEOUT_S} s") from None
    if done.returncode != 0:
        raise BackupError(f"pg_dump failed: {done.stderr.decode(errors='replace').strip()}")
    with target.open("rb+") as handle:
        os.fsync(handle.fileno())


def backups_in(dest: Path) -> list[Path]:
    """Backups in `dest`, oldest first (names sort by time)."""
    if not dest.is_dir():
        return []
    return sorted(
        p
        for p in dest.iterdir()
        if p.name.startswith(BACKUP_PREFIX) and p.suffix in (SQLITE_SUFFIX, PG_SUFFIX)
    )


def rotate(dest: Path, keep: int) -> tuple[Path, ...]:
    found = backups_in(dest)
    old = tuple(found[: max(0, len(found) - keep)])
    for path in old:
        path.unlink()
    return old


def restore(
    config: HubConfig, source: Path, force: bool = False, progress: Progress = no_progress
) -> Path | None:
    """Restore a backup into a fresh database; returns where a replaced SQLite file was
    moved (with `force`), else None. The schema revision is the backup's: run
    `tapcard hub migrate` (or `serve --migrate`) if it is older than this software."""
    if not source.is_file():
        raise BackupError(f"backup {source} does not exist")
    progress("checking the backup", 0, RESTORE_STEPS)
    if config.db_url.startswith("sqlite"):
        moved = _restore_sqlite(_sqlite_path(config.db_url), source, force, progress)
    else:
        _restore_pg(config.db_url, source, force)
        moved = None
    progress("done", RESTORE_STEPS, RESTORE_STEPS)
    return moved


def _restore_sqlite(target: Path, source: Path, force: bool, progress: Progress) -> Path | None:
    _check_sqlite(source)
    progress("copying", 1, RESTORE_STEPS)
    moved: Path | None = None
    if target.exists():
        if not force:
            raise BackupError(
                f"{target} exists: restore goes into a fresh database; "
                "add --force to move the current file aside"
            )
        moved = target.with_name(f"{target.name}.replaced-{_stamp()}")
        os.replace(target, moved)
        for suffix in ("-wal", "-shm"):  # the old file's journal must not meet the new one
            side = target.with_name(target.name + suffix)
            if side.exists():
                os.replace(side, moved.with_name(moved.name + suffix))
    private_folder(target.parent)
    temp = target.with_name(target.name + ".restoring")
    temp.unlink(missing_ok=True)
    try:
        private_file(temp)  # the restored database is as private as the one it replaces
        _copy_sqlite(source, temp)
        progress("checking the copy", 2, RESTORE_STEPS)
        _check_sqlite(temp)
        os.replace(temp, target)
        _fsync_dir(target.parent)
    finally:
        temp.unlink(missing_ok=True)
    return moved


def _restore_pg(url: str, source: Path, force: bool) -> None:
    engine = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    try:
        with engine.connect() as conn:
            tables = conn.execute(
                sa.text("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'")
            ).scalar_one()
    except sa.exc.OperationalError as exc:
        raise BackupError(f"cannot reach the database: {exc.orig}") from None
    finally:
        engine.dispose()
    if tables and not force:
        raise BackupError(
            "the database is not empty: restore goes into a fresh database "
            "(createdb a new one), or add --force to replace its tables"
        )
    binary = shutil.which("pg_restore")
    if binary is None:
        raise BackupError("pg_restore is not installed: `apt-get install postgresql-client`")
    args = [binary, "--no-owner", "--exit-on-error", "--single-transaction"]
    if force:
        args += ["--clean", "--if-exists"]
    done = subprocess.run(
        [*args, f"--dbname={_pg_url(url)}", str(source)],
        capture_output=True,
        timeout=PG_DUMP_TIMEOUT_S,
        check=False,
    )
    if done.returncode != 0:
        raise BackupError(f"pg_restore failed: {done.stderr.decode(errors='replace').strip()}")
