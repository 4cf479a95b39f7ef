"""Fixed messages for the wire tests, the golden fixtures and the AsyncAPI examples.

Every value is pinned (keys from fixed seeds, fixed UUIDs and clocks), and Ed25519
signatures are deterministic, so sealing a sample gives the same bytes on every run.
The golden files in tests/wire/golden/ hold those bytes; rewrite them after an
intended protocol change with:

    python -m tests.wire.samples --write-golden
"""

from __future__ import annotations

import argparse
import datetime as dt
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from nacl.signing import SigningKey, VerifyKey

from tapcard.domain.engine import SaleLine
from tapcard.domain.model import FeeKind, Payment
from tapcard.domain.products import Product
from tapcard.domain.rules import (
    Campaign,
    CampaignKind,
    CatalogItem,
    CatalogKind,
    Fees,
    RuleSet,
    Tier,
)
from tapcard.wire import messages as m
from tapcard.wire import staff_messages as sm
from tapcard.wire.bay_messages import BayStart
from tapcard.wire.codes import Reason
from tapcard.wire.envelope import HUB_SIGNER, WireError, seal, unseal
from tapcard.wire.topics import DENYLIST_TOPIC, PRODUCTS_TOPIC, RULES_TOPIC, Family, device_topic

GOLDEN_DIR = Path(__file__).parent / "golden"
REGENERATE = "python -m tests.wire.samples --write-golden"

DEVICE_ID = "kiosk-1"
DEVICE_KEY = SigningKey(bytes(range(32)))
HUB_KEY = SigningKey(bytes(range(32, 64)))
TX_ID = uuid.UUID("5b0c6d1e-7f2a-4b3c-8d4e-9f0a1b2c3d4e")
AT_MS = 1_781_179_200_000  # 2026-06-11 12:00 UTC
CARD_ID = "C100001"
SESSION = "q7Vd0m2XbY4sKp9LrT1wZc8NfH3uJe6A"  # as the hub issues them: 32 url-safe characters


@dataclass(frozen=True, slots=True)
class Sample:
    topic: str
    signer: str
    key: SigningKey
    body: m.Body

    def sealed(self) -> bytes:
        return seal(self.key, self.signer, self.topic, self.body)


@dataclass(frozen=True, slots=True)
class GoldenSet:
    """A family of samples pinned as golden files in one folder (one file per sample
    name), with the command that rewrites them after an intended protocol change."""

    folder: Path
    samples: Mapping[str, Sample]
    regenerate: str

    def path(self, name: str) -> Path:
        return self.folder / f"{name}.json"

    def check_bytes(self, name: str) -> None:
        """Sealing the sample today gives the pinned bytes."""
        assert self.path(name).read_bytes() == self.samples[name].sealed(), self.regenerate

    def check_unseal(self, name: str) -> None:
        """The pinned bytes verify and decode back to the sample."""
        sample = self.samples[name]
        _, body = unseal(self.path(name).read_bytes(), sample.topic, key_for, type(sample.body))
        assert body == sample.body

    def write(self) -> None:
        self.folder.mkdir(exist_ok=True)
        for name, sample in self.samples.items():
            self.path(name).write_bytes(sample.sealed())
            print(self.path(name))


def key_for(signer: str) -> VerifyKey:
    """The verify key of the two sample signers; anyone else is unknown."""
    if signer == DEVICE_ID:
        return DEVICE_KEY.verify_key
    if signer == HUB_SIGNER:
        return HUB_KEY.verify_key
    raise WireError(Reason.UNKNOWN_DEVICE, f"unknown signer {signer!r}")


def _device(family: Family, body: m.Body) -> Sample:
    return Sample(device_topic(DEVICE_ID, family), DEVICE_ID, DEVICE_KEY, body)


def _hub(topic: str, body: m.Body) -> Sample:
    return Sample(topic, HUB_SIGNER, HUB_KEY, body)


def intent(op: m.AnyOp, seq: int = 42) -> m.TxIntent:
    return m.TxIntent(
        tx_id=TX_ID,
        device=DEVICE_ID,
        seq=seq,
        created_ms=AT_MS,
        card_id=CARD_ID,
        rules_version=3,
        offline=False,
        staff="anna",
        staff_session=SESSION,
        op=op,
    )


OPS: dict[str, m.AnyOp] = {
    "purchase": m.Purchase(
        lines=[
            SaleLine("grocery", 1_250, 2, "SKU-COFFEE-BEANS-500G"),
            SaleLine("group_buy", 999),
        ],
        payment=Payment.CASH,
        receipt_no="R-2026-000017",
    ),
    "topup": m.TopUp(amount_cents=10_000),
    "spend": m.Spend(amount_cents=2_500),
    "redeem": m.Redeem(item="PARK-HOUR", units=3),
    "backfill": m.Backfill(
        receipt_no="R-2026-000009",
        receipt_on=dt.date(2026, 6, 1),
        lines=[SaleLine("fuel", 30_000)],
    ),
    "fee": m.Fee(fee=FeeKind.JOINING, payment=Payment.STORED_VALUE),
    "renewal": m.Renewal(payment=Payment.CASH),
    "refund": m.Refund(
        ref="R-2026-000017",
        lines=[m.RefundLine(line_no=0, quantity=1)],
        reason="damaged packaging",
    ),
}

RULES = RuleSet(
    version=3,
    name="golden rules",
    tiers=(Tier("regular", 0), Tier("silver", 10_000, 300, 5_000)),
    fees=Fees(joining_cents=2_000, annual_cents=5_000, replacement_cents=1_500),
    campaigns=(
        Campaign(
            code="SPEND200-GET20",
            kind=CampaignKind.SPEND_GET_OFF,
            starts_on=dt.date(2026, 1, 1),
            ends_on=dt.date(2026, 12, 31),
            min_spend_cents=20_000,
            off_cents=2_000,
            repeat=True,
        ),
    ),
    price_lists={"silver": {"SKU-COFFEE-BEANS-500G": 8_800}},
    catalog=(CatalogItem("PARK-HOUR", CatalogKind.PARKING, "Parking, per hour", 100, 12),),
)

BALANCES = m.Balances(points=180, growth=180, stored_value_cents=7_500)

# One sample per message type (the golden fixtures), named as in MESSAGE_TYPES.
SAMPLES: dict[str, Sample] = {
    "TxIntent": _device(Family.TX, intent(OPS["purchase"])),
    "Resend": _hub(
        device_topic(DEVICE_ID, Family.CONTROL),
        m.Resend(device=DEVICE_ID, from_seq=31, reason="the hub holds intents up to 30"),
    ),
    "BayStart": _hub(
        device_topic("bay-2", Family.BAY),
        BayStart(
            bay="bay-2",
            kiosk=DEVICE_ID,
            voucher="V-7KQ2M9XD",
            item="WASH-STANDARD",
            label="2",
            issued_ms=AT_MS + 150,
        ),
    ),
    "TxResults": _hub(
        device_topic(DEVICE_ID, Family.RESULT),
        m.TxResults(
            device=DEVICE_ID,
            results=[
                m.TxResult(
                    tx_id=TX_ID,
                    device=DEVICE_ID,
                    seq=42,
                    accepted=True,
                    reason=Reason.OK,
                    rules_version=3,
                    card_id=CARD_ID,
                    balances=BALANCES,
                    tier="regular",
                    net_cents=3_499,
                    discount_cents=0,
                    points_earned=25,
                    applied_ms=AT_MS + 150,
                )
            ],
        ),
    ),
    "Status": _device(Family.STATUS, m.Status(device=DEVICE_ID, online=True, at_ms=AT_MS)),
    "Health": _device(
        Family.HEALTH,
        m.Health(
            device=DEVICE_ID,
            at_ms=AT_MS,
            software_version="0.1.0",
            rules_version=3,
            denylist_version=7,
            reader="ok",
            outbox_depth=2,
            outbox_oldest_age_s=31,
            last_sync_ms=AT_MS - 31_000,
            disk_free_bytes=12_345_678_901,
            alarms=["clock_skew"],
        ),
    ),
    "SnapshotQuery": _device(Family.QUERY, m.SnapshotQuery(device=DEVICE_ID, card_id=CARD_ID)),
    "Snapshot": _hub(
        device_topic(DEVICE_ID, Family.REPLY),
        m.Snapshot(
            card_id=CARD_ID,
            found=True,
            state="active",
            kind="member",
            member_name_masked="L****i",
            tier="regular",
            next_tier="silver",
            growth_to_next=9_820,
            balances=BALANCES,
            expires_on=dt.date(2028, 6, 11),
            as_of_ms=AT_MS,
        ),
    ),
    "RulesDoc": _hub(RULES_TOPIC, m.RulesDoc(version=3, published_ms=AT_MS, rules=RULES)),
    "DenyList": _hub(
        DENYLIST_TOPIC, m.DenyList(version=7, published_ms=AT_MS, cards=["C100002", "C100007"])
    ),
    "ProductCatalog": _hub(
        PRODUCTS_TOPIC,
        m.ProductCatalog(
            version=4,
            published_ms=AT_MS,
            products=[
                Product(
                    "SH-1",
                    "洗发水",
                    "Shampoo",
                    "personal_care",
                    3_000,
                    "6901234567892",
                    {"silver": 2_700, "gold": 2_500},
                ),
                Product("CG-1", "香烟", "Cigarettes", "tobacco", 2_000, points_excluded=True),
            ],
        ),
    ),
    "StaffRequest": _device(
        Family.STAFF,
        sm.StaffRequest(
            device=DEVICE_ID,
            staff="ann",
            session=SESSION,
            op=sm.RegisterMember(name="Zhang San", phone="13900000009", uid="04aabbccddee01"),
        ),
    ),
    "StaffReply": _hub(
        device_topic(DEVICE_ID, Family.STAFF_REPLY),
        sm.StaffReply(
            device=DEVICE_ID,
            staff="ann",
            member_id=3,
            card_id="C100003",
            credential="5443",
        ),
    ),
}

# Every op kind inside an intent, for the round trips.
INTENTS: dict[str, Sample] = {
    kind: _device(Family.TX, intent(op, seq=index + 1))
    for index, (kind, op) in enumerate(OPS.items())
}


def golden_path(name: str) -> Path:
    return GOLDEN_DIR / f"{name}.json"


def write_golden() -> list[Path]:
    GOLDEN_DIR.mkdir(exist_ok=True)
    written = []
    for name, sample in SAMPLES.items():
        path = golden_path(name)
        path.write_bytes(sample.sealed())  # exact bytes: no trailing newline
        written.append(path)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--write-golden", action="store_true", help="rewrite the fixtures")
    args = parser.parse_args(argv)
    if not args.write_golden:
        parser.print_help()
        return 2
    for path in write_golden():
        print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
