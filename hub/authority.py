"""The hub applying the authority rules (tapcard.domain.authority) to one intent: what
the sender's kind may send, and an offline intent booked only within the policy.

The ledger fills a `Sender` for each intent (the device's kind and branch, what the card
and the device already spent on the intent's business day); `hub.decide` asks
`capability_refusal` first and, for an accepted offline intent, lets `cap_offline` move
what is beyond the policy off the member.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from hub.staff_sessions import StaffCheck
from tapcard.domain import authority
from tapcard.domain import ledger as legs_of
from tapcard.domain.ledger import Leg, member_account
from tapcard.domain.model import Asset, DeviceKind
from tapcard.domain.rules import RuleSet
from tapcard.wire.codes import Reason
from tapcard.wire.messages import AnyOp
from tapcard.wire.operations import op_denial, operation_of  # shared with the device

if TYPE_CHECKING:  # decided and loaded elsewhere; only their shape here
    from hub.decide import Decision
    from hub.member_state import MemberState


@dataclass(slots=True)
class Spent:
    """Stored value and points taken on one business day (by a card, or a device)."""

    cents: int = 0
    points: int = 0


@dataclass(slots=True)
class Sender:
    """What the hub knows of where an intent comes from and of the day it counts on."""

    device: DeviceKind | None  # None: not a provisioned device
    branch: str
    card_day: Spent = field(default_factory=Spent)  # the card's, for its own daily limits
    offline_card: Spent = field(default_factory=Spent)  # the card's offline intents
    offline_device: Spent = field(default_factory=Spent)  # the device's offline intents


@dataclass(frozen=True, slots=True)
class _OfflineUsed:
    card_points: int
    card_cents: int
    device_cents: int


def capability_refusal(rules: RuleSet, sender: Sender, op: AnyOp) -> tuple[Reason, str] | None:
    """Why the capability table does not let the sender send this, or None."""
    if sender.device is None:
        return Reason.DEVICE_NOT_ALLOWED, "the device is not provisioned"
    denial = op_denial(rules, sender.device, sender.branch, op)
    if denial is None:
        return None
    if denial.kind is authority.DenialKind.OPERATION:
        return Reason.DEVICE_NOT_ALLOWED, denial.message
    return Reason.AMOUNT_NOT_ALLOWED, denial.message


def staff_refusal(
    decision: Decision, offline: bool, checked: StaffCheck | None
) -> tuple[Reason, str] | None:
    """Why an intent naming staff it cannot prove is refused. An offline one was handed
    over already: it is booked without the staff credit, and HQ gets an exception."""
    if checked is None or checked.reason is Reason.OK or decision.reason is not Reason.OK:
        return None
    if offline:
        decision.exceptions.append(("staff_unverified", Asset.CENTS, 0, checked.message))
        return None
    return checked.reason, checked.message


def cap_offline(decision: Decision, member: MemberState, rules: RuleSet, sender: Sender) -> None:
    """Book an offline intent within the offline policy: what the day's caps and the
    balance bound allow comes off the member, the rest off the adjustments account and
    into an exception for HQ (the goods were handed over; the device should not have)."""
    if not member_debit(decision.legs, member.id, Asset.CENTS) and not member_debit(
        decision.legs, member.id, Asset.POINTS
    ):
        return  # takes nothing from the member: nothing to cap or count
    used = _OfflineUsed(
        card_points=sender.offline_card.points,
        card_cents=sender.offline_card.cents,
        device_cents=sender.offline_device.cents,
    )
    room = authority.offline_chargeable(
        rules.offline, used, member.balance(Asset.CENTS), member.balance(Asset.POINTS)
    )
    for asset, allowed in ((Asset.CENTS, room.cents), (Asset.POINTS, room.points)):
        excess = member_debit(decision.legs, member.id, asset) - allowed
        if excess > 0:
            decision.legs = legs_of.shift_to_adjustments(decision.legs, member.id, asset, excess)
            detail = f"offline beyond the policy: {excess} {asset.value} not charged to the card"
            decision.exceptions = _less_overdraw(decision.exceptions, asset, excess)
            decision.exceptions.append(("offline_over_policy", asset, excess, detail))
    charged_cents = member_debit(decision.legs, member.id, Asset.CENTS)
    sender.offline_card.cents += charged_cents
    sender.offline_card.points += member_debit(decision.legs, member.id, Asset.POINTS)
    sender.offline_device.cents += charged_cents


def _less_overdraw(
    exceptions: list[tuple[str, Asset, int, str]], asset: Asset, excess: int
) -> list[tuple[str, Asset, int, str]]:
    """The overdraw that remains once `excess` is not charged to the member: each unit
    is one exception, never two."""
    out: list[tuple[str, Asset, int, str]] = []
    for kind, of, amount, detail in exceptions:
        left = amount
        if kind == "offline_overdraw" and of is asset:
            left, excess = max(0, amount - excess), max(0, excess - amount)
            if left == 0:
                continue
        out.append((kind, of, left, detail))
    return out


def member_debit(legs: Sequence[Leg], member_id: int, asset: Asset) -> int:
    """What these legs take from the member's account of `asset`."""
    code = member_account(member_id, asset)
    return sum(leg.debit for leg in legs if leg.account == code)


# hub.decide takes the operation mapping from here, with the rest of the authority rules.
__all__ = [
    "Sender",
    "Spent",
    "cap_offline",
    "capability_refusal",
    "member_debit",
    "operation_of",
    "staff_refusal",
]
