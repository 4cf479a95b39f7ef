"""Privacy by law (PIPL, 个人信息保护法): the member key's rotation, a member's data on
request, closing an account by anonymising the person, the retention of location
data, and the log of who read whose data. The seal itself: hub/privacy_keys.py.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.engine import Connection

from hub import privacy_keys, privacy_seal


def rotate_key(conn: Connection, data_dir: Path, secret: bytes) -> privacy_seal.SealCount:
    """A new member key seals from now on; every row is re-sealed under it in `conn`'s
    transaction. The caller drops the old keys (`drop_old_keys`) only after it commits:
    until then a crash leaves both keys in the file and every row opens."""
    path = privacy_keys.key_path(data_dir)
    keys = privacy_keys.load(data_dir, secret)
    privacy_keys.write_keys(path, (*keys.keys, privacy_keys.new_key_line()))
    privacy_keys.install(privacy_keys.load(data_dir, secret))
    return privacy_seal.seal_rows(conn, rotate=True)


def drop_old_keys(data_dir: Path, secret: bytes) -> int:
    """Keep only the newest key in the file; returns how many went."""
    keys = privacy_keys.load(data_dir, secret)
    privacy_keys.write_keys(privacy_keys.key_path(data_dir), keys.keys[-1:])
    return len(keys.keys) - 1
