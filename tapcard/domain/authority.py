"""What a device may do, and when the hub says it happened: the hub is the authority.

Three rules, each written once and used where it applies:

- the capability table (`RuleSet.capabilities`): which operations each device kind may
  send, at which branches, up to which amount per tender (`capability_denial`), and the
  stored-value policy (`stored_value_policy`, `topup_refusal`: per card and per top-up,
  higher for members registered by real name);
- the offline policy's daily caps (`offline_limit_error` for the device deciding alone,
  `offline_room` and `offline_chargeable` for the hub booking what the device decided);
- the hub's time (`hub_time_ms`, `business_date`): an online intent happened when it
  arrived; an offline one within the offline window before its arrival.

Pure: no I/O, no clock (callers pass the times).
"""

from __future__ import annotations

import datetime as dt
import enum
import zoneinfo
from dataclasses import dataclass
from typing import Protocol

from tapcard.domain.model import DeviceKind, Payment, TxKind
from tapcard.domain.rules import (
    Capability,
    CatalogKind,
    OfflinePolicy,
    RuleSet,
    StoredValuePolicy,
)

# Rule sets from before the capability table get these bounds (docs/rules.md).
TOPUP_CENTS_MAX_DEFAULT = 500_000  # ¥5,000 in one top-up
# A named single-purpose prepaid card in China holds at most ¥5,000.
STORED_VALUE_CENTS_MAX_DEFAULT = 500_000
DAY_S = 24 * 3600
# A device's clock may run this far behind the hub's: an offline intent may be dated so
# much before the device's last contact with the hub (hub/registry.py note_contact).
CLOCK_SKEW_MS = 120_000

# Rule sets without a table: what the two apps send today. A kiosk redeems points and
# looks cards up (a snapshot request, no intent); a terminal does everything a counter
# does, its top-ups and stored-value spends bounded.
DEFAULT_CAPABILITIES: tuple[Capability, ...] = (
    Capability(DeviceKind.KIOSK, TxKind.REDEEM),
    Capability(DeviceKind.TERMINAL, TxKind.PURCHASE),
    Capability(DeviceKind.TERMINAL, TxKind.TOPUP, amount_cents_max=TOPUP_CENTS_MAX_DEFAULT),
    Capability(DeviceKind.TERMINAL, TxKind.SPEND, amount_cents_max=TOPUP_CENTS_MAX_DEFAULT),
    Capability(DeviceKind.TERMINAL, TxKind.REDEEM),
    Capability(DeviceKind.TERMINAL, TxKind.BACKFILL),
    Capability(DeviceKind.TERMINAL, TxKind.FEE),
    Capability(DeviceKind.TERMINAL, TxKind.RENEWAL),
    Capability(DeviceKind.TERMINAL, TxKind.REFUND),
)

# The vouchers each device kind may consume (a gate or a wash bay sends no intents: no
# row of the table above names them). A counter accepts any voucher for the member; a
# gate only parking, a bay only washes, whatever the device says it scanned.
VOUCHER_KINDS: dict[DeviceKind, frozenset[CatalogKind]] = {
    DeviceKind.KIOSK: frozenset(),
    DeviceKind.TERMINAL: frozenset(CatalogKind),
    DeviceKind.GATE: frozenset({CatalogKind.PARKING}),
    DeviceKind.WASH_BAY: frozenset({CatalogKind.CAR_WASH}),
}
# The device kinds that consume vouchers by themselves, with no staff logged in.
VOUCHER_DEVICES: frozenset[DeviceKind] = frozenset({DeviceKind.GATE, DeviceKind.WASH_BAY})


class DenialKind(enum.Enum):
    OPERATION = "operation"  # this kind of device may not send it here
    AMOUNT = "amount"  # it may, but not this much


@dataclass(frozen=True, slots=True)
class Denial:
    kind: DenialKind
    message: str


def capabilities_of(rules: RuleSet) -> tuple[Capability, ...]:
    return DEFAULT_CAPABILITIES if rules.capabilities is None else rules.capabilities


def stored_value_policy(rules: RuleSet) -> StoredValuePolicy:
    """The rule set's stored-value policy. A rule set from before it keeps what it meant:
    its one per-card cap (or the default) for every member, top-ups bounded by the
    default capability bound."""
    if rules.stored_value is not None:
        return rules.stored_value
    card = rules.stored_value_cents_max or STORED_VALUE_CENTS_MAX_DEFAULT
    return StoredValuePolicy(card, TOPUP_CENTS_MAX_DEFAULT, card, TOPUP_CENTS_MAX_DEFAULT)


def stored_value_cap(rules: RuleSet) -> int:
    """The most stored value any card (its member's account) may hold after a top-up."""
    return stored_value_policy(rules).real_name_card_cents_max


def topup_refusal(rules: RuleSet, *, real_name: bool, balance_cents: int, amount_cents: int) -> str:
    """Why this top-up breaks the stored-value policy ('' when it may go ahead): the one
    check the hub and the device's offline policy both make."""
    policy = stored_value_policy(rules)
    if real_name:
        card_max, topup_max = policy.real_name_card_cents_max, policy.real_name_topup_cents_max
    else:
        card_max, topup_max = policy.card_cents_max, policy.topup_cents_max
    who = "a member registered by real name" if real_name else "a member without real name"
    if amount_cents > topup_max:
        return f"one top-up for {who} is at most {topup_max} cents"
    if balance_cents + amount_cents > card_max:
        return f"a card of {who} may hold at most {card_max} cents"
    return ""


def capability_denial(
    rules: RuleSet,
    *,
    device: DeviceKind,
    branch: str,
    operation: TxKind,
    tender: Payment | None,
    amount_cents: int,
) -> Denial | None:
    """Why the table does not let this device send this operation, or None."""
    matching = [
        cap
        for cap in capabilities_of(rules)
        if cap.device is device
        and cap.operation is operation
        and (cap.tender is None or cap.tender is tender)
        and (not cap.branches or branch in cap.branches)
    ]
    if not matching:
        how = f" by {tender.value}" if tender is not None else ""
        return Denial(
            DenialKind.OPERATION,
            f"a {device.value} may not send {operation.value}{how} at branch {branch or '?'}",
        )
    if any(cap.amount_cents_max == 0 or amount_cents <= cap.amount_cents_max for cap in matching):
        return None
    bound = max(cap.amount_cents_max for cap in matching)
    return Denial(
        DenialKind.AMOUNT,
        f"a {device.value} may send {operation.value} of at most {bound} cents",
    )


def voucher_denial(device: DeviceKind, item_kind: str) -> str:
    """Why this kind of device may not consume a voucher for a catalog item of
    `item_kind` ('' when it may): a gate takes parking, a bay a wash."""
    allowed = VOUCHER_KINDS.get(device, frozenset())
    if item_kind in allowed:
        return ""
    what = item_kind or "an unknown item"
    return f"a {device.value} may not accept a voucher for {what}"


# --- the offline policy's caps --------------------------------------------------------


class OfflineUsed(Protocol):
    """What was already spent offline on the day: by the card, and by the device."""

    @property
    def card_points(self) -> int: ...
    @property
    def card_cents(self) -> int: ...
    @property
    def device_cents(self) -> int: ...


@dataclass(frozen=True, slots=True)
class OfflineRoom:
    """How much more stored value and how many more points an offline intent may take."""

    cents: int
    points: int


def offline_room(policy: OfflinePolicy, used: OfflineUsed) -> OfflineRoom:
    cents = min(
        policy.card_daily_cents_max - used.card_cents,
        policy.device_daily_cents_max - used.device_cents,
    )
    points = policy.card_daily_points_max - used.card_points
    return OfflineRoom(cents=max(0, cents), points=max(0, points))


def offline_limit_error(policy: OfflinePolicy, used: OfflineUsed, cents: int, points: int) -> str:
    """Why the device may not take this much while offline ('' when it may)."""
    if points and used.card_points + points > policy.card_daily_points_max:
        return f"offline a card may redeem {policy.card_daily_points_max} points a day"
    if cents and used.card_cents + cents > policy.card_daily_cents_max:
        return f"offline a card may spend {policy.card_daily_cents_max} cents a day"
    if cents and used.device_cents + cents > policy.device_daily_cents_max:
        return f"offline this device may take {policy.device_daily_cents_max} cents a day"
    return ""


def offline_chargeable(
    policy: OfflinePolicy, used: OfflineUsed, balance_cents: int, balance_points: int
) -> OfflineRoom:
    """What the hub may take from a member for an offline intent: within the day's caps,
    and never below the policy's bound (minus one day's cap: what one day's offline
    decisions on a stale balance can overdraw)."""
    room = offline_room(policy, used)
    return OfflineRoom(
        cents=max(0, min(room.cents, balance_cents + policy.card_daily_cents_max)),
        points=max(0, min(room.points, balance_points + policy.card_daily_points_max)),
    )


def offline_balance_floor(policy: OfflinePolicy) -> OfflineRoom:
    """The lowest balances offline intents can leave (as negative numbers)."""
    return OfflineRoom(cents=-policy.card_daily_cents_max, points=-policy.card_daily_points_max)


# --- the hub's time -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class HubTime:
    at_ms: int  # when the hub says it happened
    moved: bool  # an offline intent dated outside its window, moved to the window's edge


def offline_window_ms(policy: OfflinePolicy, arrival_ms: int, earliest_ms: int) -> tuple[int, int]:
    """The times an offline intent arriving now may carry: no later than its arrival, no
    earlier than the offline age before it (a device refuses cards it saw longer ago)
    nor than `earliest_ms` (the hub's: the device's provisioning, and its last contact
    before it went quiet less CLOCK_SKEW_MS)."""
    start_ms = max(earliest_ms, arrival_ms - policy.cache_age_s_max * 1000)
    return min(start_ms, arrival_ms), arrival_ms


def hub_time_ms(
    *, offline: bool, created_ms: int, arrival_ms: int, window: tuple[int, int]
) -> HubTime:
    """Online: the hub's clock at arrival. Offline: the device's time, if in the window."""
    if not offline:
        return HubTime(arrival_ms, False)
    start_ms, end_ms = window
    at_ms = min(max(created_ms, start_ms), end_ms)
    return HubTime(at_ms, at_ms != created_ms)


def business_date(at_ms: int, zone: str) -> dt.date:
    """The business day (in the rule set's time zone) of a moment."""
    moment = dt.datetime.fromtimestamp(at_ms // 1000, tz=zoneinfo.ZoneInfo(zone))
    return moment.date()


def business_day_start_ms(day: dt.date, zone: str) -> int:
    start = dt.datetime(day.year, day.month, day.day, tzinfo=zoneinfo.ZoneInfo(zone))
    return int(start.timestamp()) * 1000
