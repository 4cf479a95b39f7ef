"""Small whole documents (settings, cached rules, deny list, UI texts) in TinyDB.

TinyDB's own JSON storage rewrites its file in place, so a crash mid-write leaves a
broken file. `AtomicJSONStorage` writes a temporary file in the same folder, fsyncs it,
renames it over the old one and fsyncs the folder: after a crash the file is the old
document or the new one, never a mix. Each document lives under a name and is replaced
whole; nothing money-bearing lives here (that is `store.DeviceStore`).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import tempfile
import threading
from pathlib import Path
from typing import Any, Final, TypeVar

import msgspec
from tinydb import Query, TinyDB
from tinydb.storages import Storage

from tapcard.device.store import StoreError

log = logging.getLogger(__name__)
T = TypeVar("T")

DOCS_FILE: Final = "docs.json"
DOC_BYTES_MAX: Final = 8 * 1024 * 1024  # the deny list is the largest (100,000 card ids)
_TABLE: Final = "docs"


class AtomicJSONStorage(Storage):
    """A TinyDB storage that replaces its file atomically on every write."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)

    def read(self) -> dict[str, dict[str, Any]] | None:
        try:
            text = self.path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise StoreError(f"{self.path} cannot be read: {exc}") from None
        if len(text) > DOC_BYTES_MAX:
            raise StoreError(f"{self.path} is larger than {DOC_BYTES_MAX} bytes")
        if not text:
            return None
        try:
            data = json.loads(text)
        except ValueError as exc:
            # Never produced by this storage; a file edited by hand or a broken disk.
            raise StoreError(f"{self.path} is not valid JSON: {exc}") from None
        if not isinstance(data, dict):
            raise StoreError(f"{self.path} does not hold a TinyDB document")
        return data

    def write(self, data: dict[str, dict[str, Any]]) -> None:
        text = json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode()
        if len(text) > DOC_BYTES_MAX:
            raise StoreError(f"document of {len(text)} bytes > {DOC_BYTES_MAX}")
        write_atomic(self.path, text)

    def close(self) -> None:
        pass


def write_atomic(path: Path, data: bytes, mode: int = 0o600) -> None:
    """Write `data` to `path` so that a crash leaves the old or the new content."""
    folder = path.parent
    fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temp, mode)
        os.replace(temp, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise StoreError(f"{path} cannot be written: {exc}") from None
    dir_fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


class DocStore:
    """Named JSON documents, each replaced whole."""

    def __init__(self, data_dir: Path) -> None:
        data_dir.mkdir(parents=True, exist_ok=True)
        self.path = data_dir / DOCS_FILE
        self._lock = threading.Lock()
        self._db = TinyDB(self.path, storage=AtomicJSONStorage)
        self._table = self._db.table(_TABLE, cache_size=0)

    def get(self, name: str) -> Any:
        with self._lock:
            row = self._table.get(Query().name == name)
        assert row is None or isinstance(row, dict)
        return None if row is None else row["doc"]

    def get_typed(self, name: str, kind: type[T]) -> T | None:
        """The document as `kind`, or None when absent or unusable (an older or damaged
        file): the device then waits for the hub's next copy."""
        raw = self.get(name)
        if raw is None:
            return None
        try:
            return msgspec.convert(raw, type=kind)
        except msgspec.ValidationError as exc:
            log.warning("stored %s document is unusable (%s); waiting for the hub's", name, exc)
            return None

    def put(self, name: str, doc: Any) -> None:
        with self._lock:
            self._table.upsert({"name": name, "doc": doc}, Query().name == name)

    def close(self) -> None:
        with self._lock:
            self._db.close()
