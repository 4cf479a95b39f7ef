"""An expired or misplaced voucher is refused at the counter with its reason, in English
and in Chinese, against a real hub and mosquitto; nothing is marked used.

Scenario: a member redeems parking at the counter (till-1 at shop-1). HQ then gives one
voucher an expiry already past, another a place at shop-9 only, a third a place at
kiosks only (as a rule set with valid_days, branches and device_kinds would have at
issue). At the counter each is refused with its own title; switched to Chinese, the
same refusals read in Chinese; the member's vouchers stay unused. A new member who
joins by spend at the counter pays no joining fee.
"""

from __future__ import annotations

import dataclasses
import datetime as dt

import sqlalchemy as sa

from hub import db
from hub.rulestore import store_rules
from tests.terminal.conftest import PIN, Till
from tests.terminal.test_terminal_voucher import _message, _redeem_parking, _used_ms

REFUSALS: tuple[tuple[dict[str, object], str, str], ...] = (
    ({"expires_ms": 1}, "This voucher has expired", "此券已过期"),
    ({"branches": "shop-9"}, "This voucher is not valid at this branch", "此券不能在本门店使用"),
    ({"device_kinds": "kiosk"}, "This voucher is not valid here", "此券不能在此处使用"),
)


def _set_terms(till: Till, code: str, **values: object) -> None:
    with till.rig.seeded.hub.transaction() as conn:
        conn.execute(db.vouchers.update().where(db.vouchers.c.code == code).values(**values))


def test_expired_and_misplaced_vouchers_are_refused_in_both_languages(till: Till) -> None:
    codes = [_redeem_parking(till, 1)]
    for _ in REFUSALS[1:]:
        till.presenter.home()
        till.tap(till.rig.seeded.cards[0])
        till.card_ready()
        till.presenter.redeem("PARK-HOUR", 1)
        receipt = till.wait("receipt", "redemption receipt")
        [line] = [row for row in receipt.lines if row.startswith("Voucher: ")]
        codes.append(line.removeprefix("Voucher: "))
    for code, (terms, _en, _zh) in zip(codes, REFUSALS, strict=True):
        _set_terms(till, code, **terms)
    for lang, column in (("en", 1), ("zh", 2)):
        till.presenter.set_language(lang)
        for code, refusal in zip(codes, REFUSALS, strict=True):
            till.presenter.home()
            till.presenter.use_voucher(code)
            title, detail = _message(till)
            assert title == refusal[column] and code in detail, (lang, title, detail)
    assert [_used_ms(till, code) for code in codes] == [None, None, None]
    with till.rig.seeded.hub.engine.connect() as conn:
        used = conn.execute(sa.select(db.audit).where(db.audit.c.action == "voucher.use"))
        assert used.all() == []


def test_registering_by_spend_takes_no_joining_fee(till: Till) -> None:
    """At the counter, a member who joins by spend pays nothing now: the hub books no
    fee and keeps the membership provisional, the card valid for the rules' window."""
    hub = till.rig.seeded.hub
    sample = hub.rules.latest()
    joining = dataclasses.replace(
        sample, version=sample.version + 1, join_spend_cents=10_000, join_spend_days=30
    )
    with hub.transaction() as conn:
        store_rules(conn, joining, "test")
    till.presenter.login("ann", PIN)
    till.wait("home", "login")
    till.tap_blank(b"\x04\xaa\xbb\xcc\xdd\xee\x07")
    till.card_ready()
    till.presenter.register("Zhao Liu", "13900000077", join_by_spend=True)
    done = till.wait("message", "card issued")
    assert "is ready" in done.title, done
    card_id = done.title.split()[1]
    with hub.engine.connect() as conn:
        card = conn.execute(sa.select(db.cards).where(db.cards.c.id == card_id)).one()
        join = conn.execute(
            sa.select(db.join_by_spend).where(db.join_by_spend.c.card_id == card_id)
        ).one()
        fees = conn.execute(
            sa.select(db.transfers.c.tx_id).where(db.transfers.c.member_id == card.member_id)
        ).all()
    assert (join.state, join.spend_cents_min, card.expires_on) == (
        "provisional",
        10_000,
        join.joined_on + dt.timedelta(days=29),
    )
    assert fees == []  # no joining fee booked
