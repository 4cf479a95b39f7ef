"""Card accounts kept apart, on SQLite and PostgreSQL: a category card (餐饮卡) is its
own points account, earning only on its categories; a co-branded card only at its
partner's branch; the person's member card and each card account keep their points
apart, a replacement keeps a card's points with it, and nothing moves points between
two cards of one person. `verify` stays clean.

Scenario: the sample rules' programs (dining: dining and bakery; cinema: at branch
cinema-1, 1 point per 50 cents), the seeded shop, Li Wei with a member card.
"""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from hub import admin, db
from hub.admin.snapshot import card_snapshot
from hub.verify import verify_ledger
from tapcard.device import policy
from tapcard.domain import engine
from tapcard.domain.engine import SaleLine
from tapcard.domain.model import Asset, CardKind, Payment
from tapcard.errors import ConflictError, ValidationError
from tapcard.wire import messages as m
from tests.clock import pinned_today
from tests.conftest import Seeded, credit
from tests.hub.support import Device, purchase, staff_on_duty, to_incoming

BASKET = m.Purchase(
    lines=[SaleLine("dining", 3_000), SaleLine("grocery", 5_000), SaleLine("bakery", 1_000)],
    payment=Payment.CASH,
)


def issue(seeded: Seeded, member_id: int, kind: CardKind, program: str = "") -> str:
    with seeded.hub.transaction() as conn:
        rules = seeded.hub.rules.latest()
        return admin.issue_card(conn, member_id, rules, "hq:ana", kind=kind, program=program)


def points(seeded: Seeded, card_id: str) -> int:
    with seeded.hub.engine.connect() as conn:
        snapshot = card_snapshot(conn, card_id, seeded.hub.rules.latest())
    assert snapshot.balances is not None
    return snapshot.balances.points


def buy(
    seeded: Seeded, device: Device, card_id: str, op: m.Purchase, branch: str = "shop-1"
) -> int:
    [result] = seeded.hub.ledger.apply_batch([to_incoming(device.sealed(card_id, op), branch)])
    assert result.accepted, result.message
    return result.points_earned


def verified(seeded: Seeded) -> None:
    with seeded.hub.engine.connect() as conn:
        assert verify_ledger(conn).errors == []


@pytest.fixture
def device(seeded: Seeded) -> Device:
    return Device(seeded.device_id, seeded.device_key)


def test_category_card_earns_on_its_categories_into_its_own_account(
    seeded: Seeded, device: Device
) -> None:
    person, member_card = seeded.members[0], seeded.cards[0]
    dining = issue(seeded, person, CardKind.CATEGORY, "dining")
    # The welcome 10 % off applies (Li Wei joined today): 3600 of dining and bakery earn
    # on the dining card, the groceries nothing; the member card earns on all 8100.
    assert buy(seeded, device, dining, BASKET) == 36
    assert buy(seeded, device, member_card, BASKET) == 81
    assert (points(seeded, dining), points(seeded, member_card)) == (36, 81)
    with seeded.hub.engine.connect() as conn:
        snapshot = card_snapshot(conn, dining, seeded.hub.rules.latest())
        cards = {c["card_id"]: c for c in admin.person_cards(conn, person)}
        holder = conn.execute(
            sa.select(db.members.c.person_id, db.members.c.program, db.members.c.phone_key).where(
                db.members.c.id == cards[dining]["account"]
            )
        ).one()
    assert (snapshot.program, snapshot.kind) == ("dining", "category")
    assert (holder.person_id, holder.program, holder.phone_key) == (person, "dining", None)
    assert cards[dining]["points"] == 36 and cards[member_card]["points"] == 81
    assert cards[member_card]["account"] == person != cards[dining]["account"]
    with seeded.hub.engine.connect() as conn:  # the person's phone, yet no duplicate
        assert admin.member_duplicates(conn) == []
    verified(seeded)


def test_cobranded_card_earns_at_its_partner_only(seeded: Seeded, device: Device) -> None:
    with seeded.hub.transaction() as conn:
        admin.add_branch(conn, "cinema-1", "Cinema", "partner", "test")
    cinema = issue(seeded, seeded.members[0], CardKind.COBRANDED, "cinema")
    tickets = purchase(2_000, category="tickets")
    # 1800 after the welcome 10 % off, at 50 cents a point.
    assert buy(seeded, device, cinema, tickets, branch="cinema-1") == 36
    assert buy(seeded, device, cinema, tickets, branch="shop-1") == 0
    assert points(seeded, cinema) == 36 and points(seeded, seeded.cards[0]) == 0
    verified(seeded)


def test_replacement_keeps_each_cards_points_apart(seeded: Seeded, device: Device) -> None:
    person, member_card = seeded.members[0], seeded.cards[0]
    dining = issue(seeded, person, CardKind.CATEGORY, "dining")
    buy(seeded, device, dining, BASKET)
    credit(seeded.hub, person, Asset.POINTS, 500)
    with seeded.hub.transaction() as conn:
        rules = seeded.hub.rules.latest()
        new_dining = admin.replace_card(conn, dining, rules, "hq:ana", waive_fee=True)
        new_member = admin.replace_card(conn, member_card, rules, "hq:ana", waive_fee=True)
    assert (points(seeded, new_dining), points(seeded, new_member)) == (36, 500)
    with seeded.hub.engine.connect() as conn:
        snapshot = card_snapshot(conn, new_dining, seeded.hub.rules.latest())
    assert snapshot.program == "dining"
    assert buy(seeded, device, new_dining, BASKET) == 36
    assert points(seeded, new_dining) == 72
    verified(seeded)


def test_no_operation_combines_two_cards_of_one_person(seeded: Seeded, device: Device) -> None:
    person, other = seeded.members
    dining = issue(seeded, person, CardKind.CATEGORY, "dining")
    buy(seeded, device, dining, BASKET)
    with seeded.hub.engine.connect() as conn:
        account = int(admin.require_card(conn, dining).member_id)
    rules = seeded.hub.rules.latest()
    # A merge is the only operation that moves points between members: never a card account.
    for source, target in ((account, person), (person, account)):
        with pytest.raises(ConflictError, match="stay apart"), seeded.hub.transaction() as conn:
            admin.merge_members(conn, source, target, "combine the cards", "hq:ana", rules)
    # Nor can a second card be put on the card account, or a category card be had without
    # its program or under another kind's.
    with pytest.raises(ConflictError, match="card account"):
        issue(seeded, account, CardKind.MEMBER)
    with pytest.raises(ConflictError, match="card account"):
        issue(seeded, account, CardKind.CATEGORY, "dining")
    with pytest.raises(ValidationError, match="needs its program"):
        issue(seeded, person, CardKind.CATEGORY)
    with pytest.raises(ValidationError, match="issues cobranded cards"):
        issue(seeded, person, CardKind.CATEGORY, "cinema")
    with pytest.raises(ValidationError, match="belongs to no card program"):
        issue(seeded, person, CardKind.SUPPLEMENTARY, "dining")
    assert (points(seeded, dining), points(seeded, seeded.cards[0])) == (36, 0)
    # Merging the people: the card account follows the person, its points still apart.
    with seeded.hub.transaction() as conn:
        summary = admin.merge_members(conn, person, other, "same person twice", "hq:ana", rules)
        cards = {c["card_id"]: c for c in admin.person_cards(conn, other)}
    assert summary["card_accounts"] == 1
    assert cards[dining]["points"] == 36 and cards[dining]["account"] == account
    verified(seeded)


def test_the_devices_offline_quote_earns_as_the_hub_from_the_snapshot(
    seeded: Seeded, device: Device
) -> None:
    dining = issue(seeded, seeded.members[0], CardKind.CATEGORY, "dining")
    rules = seeded.hub.rules.latest()
    with seeded.hub.engine.connect() as conn:
        snapshot = card_snapshot(conn, dining, rules)
    context = policy.member_context(rules, snapshot, "shop-1")
    quote = engine.quote_sale(rules, context, BASKET.lines, pinned_today())
    assert (quote.points, quote.excluded_cents) == (36, 4_500)  # the groceries, 10 % off
    assert buy(seeded, device, dining, BASKET) == quote.points


def test_a_refund_takes_back_what_the_card_earned(seeded: Seeded, device: Device) -> None:
    dining = issue(seeded, seeded.members[0], CardKind.CATEGORY, "dining")
    badge = staff_on_duty(seeded.hub, seeded.device_id, "mei")

    def refund(line_no: int) -> m.TxResult:
        op = m.Refund(ref="R-9", lines=[m.RefundLine(line_no=line_no, quantity=1)], reason="x")
        [result] = seeded.hub.ledger.apply_batch([device.incoming(dining, op, staff=badge)])
        assert result.accepted, result.message
        return result

    sale = m.Purchase(lines=BASKET.lines, payment=Payment.CASH, receipt_no="R-9")
    assert buy(seeded, device, dining, sale) == 36
    assert refund(1).points_spent == 0  # the groceries earned nothing on this card
    assert refund(0).points_spent == 27  # the dining line's 2700
    assert points(seeded, dining) == 9 and points(seeded, seeded.cards[0]) == 0
    verified(seeded)
