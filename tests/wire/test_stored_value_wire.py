"""The snapshot's real-name flag on the wire: a device applies the stored-value
policy's higher limits offline only for a member the hub says is registered by real
name. Bytes a hub signed before the field existed still unseal (as not real-name), and
a real-name snapshot's bytes are pinned."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import msgspec

from tapcard.wire import messages as m
from tapcard.wire.envelope import unseal
from tests.wire.samples import SAMPLES, key_for

GOLDEN = Path(__file__).parent / "golden" / "stored_value"
REGENERATE = "python -m tests.wire.test_stored_value_wire"  # writes Snapshot_real_name.json
SAMPLE = SAMPLES["Snapshot"]
REAL_NAME = msgspec.structs.replace(SAMPLE.body, real_name=True)


def _real_name_bytes() -> bytes:
    return dataclasses.replace(SAMPLE, body=REAL_NAME).sealed()


def test_a_snapshot_signed_before_the_field_unseals_as_not_real_name() -> None:
    old = (GOLDEN / "Snapshot_before_real_name.json").read_bytes()
    assert b"real_name" not in old
    _, body = unseal(old, SAMPLE.topic, key_for, m.Snapshot)
    assert isinstance(body, m.Snapshot) and body.real_name is False
    assert body == SAMPLE.body  # everything else as it was


def test_real_name_snapshot_bytes_keep_decoding() -> None:
    """The pinned bytes of a real-name snapshot (written when the field came) unseal to
    the same snapshot as fields are added after it, each with its default."""
    path = GOLDEN / "Snapshot_real_name.json"
    _, body = unseal(path.read_bytes(), SAMPLE.topic, key_for, m.Snapshot)
    assert isinstance(body, m.Snapshot) and body.real_name is True
    assert body == REAL_NAME
    assert b'\\"real_name\\":true' in path.read_bytes()


if __name__ == "__main__":
    (GOLDEN / "Snapshot_real_name.json").write_bytes(_real_name_bytes())
