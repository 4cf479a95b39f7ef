"""Transaction ids are UUIDv7: time-ordered (the ledger's B-trees stay warm) and random
enough that two devices never make the same one."""

from __future__ import annotations

from tapcard.wire.ids import new_tx_id


def test_ids_are_version_7_and_ordered_by_time() -> None:
    earlier, later = new_tx_id(1_795_000_000_000), new_tx_id(1_795_000_000_001)
    assert earlier.version == later.version == 7
    assert str(earlier) < str(later)
    assert earlier.int >> 80 == 1_795_000_000_000  # the millisecond stamp leads


def test_ids_in_one_millisecond_differ() -> None:
    ids = {new_tx_id(1_795_000_000_000) for _ in range(10_000)}
    assert len(ids) == 10_000
