"""Staff card logins have a try limit, against a real hub and mosquitto.

Scenario: someone at a till holds bob's staff card and tries to log in as ann, again
and again: after CARD_TRIES_MAX refusals that card's logins are locked (bob's own login
with it too), the lock is audited and shown to HQ as a `card_lock` alert with the
card's branch, while ann's real card still logs in at the same till. When the lockout
ends the card opens again, though one more refusal within the window locks it again at
once. Then someone tries DEVICE_CARD_TRIES_MAX different made-up cards at one till: card
logins at that till are locked, ann's real card is refused there and works at another
till.
"""

from __future__ import annotations

import time

import pytest

from hub import db, staff_card_tries
from hub.web import alerts
from hub.web.settings import WebSettings
from tapcard.wire import staff_messages as sm
from terminal.staff_link import StaffLink
from tests.device.conftest import Rig, fast_link, rig  # noqa: F401
from tests.hub.test_staff_auth import Links, ask, links  # noqa: F401

UID = "04a1b2c3d4e5f6"


def card_login(link: StaffLink, staff_id: str, card_id: str) -> sm.StaffReply:
    challenge = ask(link, staff_id, sm.LoginChallenge()).challenge
    op = sm.StaffCardLogin(card_id=card_id, uid=UID, challenge=challenge)
    return ask(link, staff_id, op)


def _lock_rows(rig: Rig) -> list[tuple[str, str, str | None]]:  # noqa: F811
    with rig.seeded.hub.engine.connect() as conn:
        found = alerts.compute(conn, WebSettings(), {}, [])
    return [(a.kind, a.subject, a.branch) for a in found if a.kind == "card_lock"]


def test_a_card_tried_for_another_is_locked_after_its_tries(
    rig: Rig,  # noqa: F811
    links: Links,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    till = links("till-1")
    limit = staff_card_tries.CARD_TRIES_MAX
    errors = [card_login(till, "ann", "S-bob").error for _ in range(limit + 3)]
    assert errors == ["unknown_staff"] * (limit - 1) + ["locked"] * 4
    assert rig.count(db.audit, action="staff.card_login_failed") == limit
    assert rig.count(db.audit, action="staff.card_locked") == 1
    assert rig.count(db.audit, action="staff.card_login_locked") == 3
    with rig.seeded.hub.engine.connect() as conn:
        locks = staff_card_tries.card_lockouts(conn, rig.seeded.hub.clock.now_ms())
    assert [(lock.kind, lock.subject) for lock in locks] == [("card", "S-bob")]
    assert _lock_rows(rig) == [("card_lock", "card S-bob", "shop-1")]
    assert card_login(till, "bob", "S-bob").error == "locked"  # the card is locked
    ann = card_login(till, "ann", "S-ann")  # one card's lock, not the till's
    assert ann.error == "" and ann.session
    monkeypatch.setattr(staff_card_tries, "CARD_LOCKOUT_S", 1)
    time.sleep(1.1)
    with rig.seeded.hub.engine.connect() as conn:
        now_ms = rig.seeded.hub.clock.now_ms()
        assert staff_card_tries.card_locked_until(conn, "S-bob", "till-1", now_ms) == 0
    # Open again, but the window still holds its refusals: the next one locks at once.
    assert card_login(till, "ann", "S-bob").error == "locked"
    assert rig.count(db.audit, action="staff.card_locked") == 2


def test_many_made_up_cards_at_one_till_lock_the_till(
    rig: Rig,  # noqa: F811
    links: Links,  # noqa: F811
) -> None:
    till, other = links("till-1"), links("till-3")
    for index in range(staff_card_tries.DEVICE_CARD_TRIES_MAX):
        assert card_login(till, "ann", f"S-guess{index}").error in ("unknown_staff", "locked")
    refused = card_login(till, "ann", "S-ann")
    assert refused.error == "locked" and not refused.session
    assert "card logins" in refused.message
    assert card_login(other, "ann", "S-ann").error == ""
    # (Without the watcher's presence list, compute knows no device's branch.)
    assert ("card_lock", "device till-1", None) in _lock_rows(rig)
    with rig.seeded.hub.engine.connect() as conn:
        now_ms = rig.seeded.hub.clock.now_ms()
        assert staff_card_tries.card_locked_until(conn, "S-ann", "till-3", now_ms) == 0
        assert staff_card_tries.card_locked_until(conn, "S-ann", "till-1", now_ms) > now_ms
