"""The snapshot's next points to expire on the wire: "N points expire on D" on the
kiosk and the terminal. Bytes a hub signed before the fields existed still unseal (as
nothing expiring), and an expiring snapshot's bytes are pinned."""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path

import msgspec
import pytest

from tapcard.wire import messages as m
from tapcard.wire.envelope import unseal
from tests.wire.samples import SAMPLES, key_for

GOLDEN = Path(__file__).parent / "golden" / "expiry"
REGENERATE = "python -m tests.wire.test_expiry_wire"
SAMPLE = SAMPLES["Snapshot"]
EXPIRING = msgspec.structs.replace(
    SAMPLE.body, points_expiring=120, points_expire_on=dt.date(2027, 2, 28)
)


def _expiring_bytes() -> bytes:
    return dataclasses.replace(SAMPLE, body=EXPIRING).sealed()


def test_a_snapshot_signed_before_the_fields_unseals_as_nothing_expiring() -> None:
    old = (GOLDEN / "Snapshot_before_expiry.json").read_bytes()
    assert b"points_expir" not in old
    _, body = unseal(old, SAMPLE.topic, key_for, m.Snapshot)
    assert isinstance(body, m.Snapshot)
    assert (body.points_expiring, body.points_expire_on) == (0, None)


def test_expiring_snapshot_bytes_are_pinned() -> None:
    path = GOLDEN / "Snapshot_expiring.json"
    assert path.read_bytes() == _expiring_bytes(), f"rewrite with `{REGENERATE}`"
    _, body = unseal(path.read_bytes(), SAMPLE.topic, key_for, m.Snapshot)
    assert isinstance(body, m.Snapshot)
    assert (body.points_expiring, body.points_expire_on) == (120, dt.date(2027, 2, 28))


def test_negative_expiring_points_are_refused() -> None:
    with pytest.raises(msgspec.ValidationError):
        msgspec.json.decode(
            b'{"card_id": "C1", "found": true, "points_expiring": -1}', type=m.Snapshot
        )


if __name__ == "__main__":
    (GOLDEN / "Snapshot_expiring.json").write_bytes(_expiring_bytes())
