"""One rule for a card's state today, shared by the hub and the devices.

Scenario: a member's card expired yesterday; another member's account was terminated
while their card still says active; a newer hub sends a state this version does not
know. The hub and an offline kiosk must refuse and allow exactly the same things.
"""

from __future__ import annotations

import datetime as dt

import pytest

from tapcard.domain.model import (
    CardState,
    MemberStatus,
    card_allows,
    effective_card_state,
)

TODAY = dt.date(2026, 6, 10)


@pytest.mark.parametrize(
    ("stored", "expires_on", "member", "effective"),
    [
        ("active", TODAY, MemberStatus.ACTIVE, CardState.ACTIVE),  # last day still valid
        ("active", TODAY - dt.timedelta(days=1), MemberStatus.ACTIVE, CardState.EXPIRED),
        ("active", None, MemberStatus.ACTIVE, CardState.ACTIVE),
        ("lost", TODAY + dt.timedelta(days=9), MemberStatus.ACTIVE, CardState.LOST),
        ("active", TODAY, MemberStatus.TERMINATED, CardState.TERMINATED),
        ("replaced", TODAY, "active", CardState.REPLACED),
        ("frozen", TODAY, MemberStatus.ACTIVE, None),
    ],
)
def test_effective_state(
    stored: str, expires_on: dt.date | None, member: str, effective: CardState | None
) -> None:
    assert effective_card_state(stored, expires_on, TODAY, member) is effective


def test_only_an_active_card_does_anything_and_an_expired_one_only_renews() -> None:
    allowed = {
        (state, renewal)
        for state in [*CardState, None]
        for renewal in (False, True)
        if card_allows(state, renewal)
    }
    assert allowed == {
        (CardState.ACTIVE, False),
        (CardState.ACTIVE, True),
        (CardState.EXPIRED, True),
    }
