"""Branches and the devices registered at them."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from hub import db
from hub.admin.audit import audit
from tapcard.domain.model import DeviceKind
from tapcard.errors import ConflictError, NotFoundError, ValidationError
from tapcard.wire.topics import is_valid_device_id

DEVICE_KINDS = tuple(kind.value for kind in DeviceKind)


def add_branch(conn: Connection, branch_id: str, name: str, chain: str, actor: str) -> None:
    if not is_valid_device_id(branch_id):
        raise ValidationError("a branch id is 1-48 lowercase letters, digits, - or _")
    if conn.execute(sa.select(db.branches.c.id).where(db.branches.c.id == branch_id)).first():
        raise ConflictError(f"branch {branch_id} exists")
    conn.execute(db.branches.insert().values(id=branch_id, name=name, chain=chain))
    audit(conn, actor, "branch.add", branch_id, {"name": name, "chain": chain})


def add_device(
    conn: Connection, device_id: str, branch_id: str, kind: str, public_key: str, actor: str
) -> None:
    if not is_valid_device_id(device_id) or device_id == "hub":
        raise ValidationError("a device id is 1-48 lowercase letters, digits, - or _")
    if kind not in DEVICE_KINDS:
        raise ValidationError(f"device kind is one of {', '.join(DEVICE_KINDS)}")
    if not conn.execute(sa.select(db.branches.c.id).where(db.branches.c.id == branch_id)).first():
        raise NotFoundError(f"branch {branch_id} does not exist")
    if conn.execute(sa.select(db.devices.c.id).where(db.devices.c.id == device_id)).first():
        raise ConflictError(f"device {device_id} exists")
    conn.execute(
        db.devices.insert().values(
            id=device_id,
            branch_id=branch_id,
            kind=kind,
            public_key=public_key,
            state="active",  # a device's state: active | revoked (no member or card state)
            created_ms=db.now_ms(conn),
            online=False,
            status_ms=0,
            last_seen_ms=0,
            health="{}",
            software_version="",
            rules_version=0,
            denylist_version=0,
            seq_max=0,
        )
    )
    audit(conn, actor, "device.add", device_id, {"branch": branch_id, "kind": kind})


def revoke_device(conn: Connection, device_id: str, actor: str) -> None:
    updated = conn.execute(
        db.devices.update().where(db.devices.c.id == device_id).values(state="revoked")
    ).rowcount
    if not updated:
        raise NotFoundError(f"device {device_id} does not exist")
    audit(conn, actor, "device.revoke", device_id)
