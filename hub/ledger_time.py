"""When and from where an intent counts: the hub's time and business day of an intent,
and the `Sender` the decision sees (the device's kind and branch, what the card and the
device already spent that day). Moved out of hub/ledger.py to keep it within its size.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from hub import ledger_store as store
from hub.authority import Sender
from tapcard.domain import authority
from tapcard.domain.rules import BUSINESS_TIME_ZONE_DEFAULT, OfflinePolicy, RuleSet
from tapcard.wire.messages import TxIntent

if TYPE_CHECKING:
    from hub.ledger import Incoming


def hub_time(
    intent: TxIntent, rules: RuleSet | None, device: store.DeviceInfo | None, now_ms: int
) -> tuple[authority.HubTime, dt.date]:
    """When the hub says the intent happened, and the business day that is."""
    policy = rules.offline if rules is not None else OfflinePolicy()
    earliest_ms = now_ms
    if device is not None:  # not before it was provisioned, nor before it last went quiet
        since_ms = device.offline_from_ms - authority.CLOCK_SKEW_MS
        earliest_ms = max(device.provisioned_ms, since_ms)
    window = authority.offline_window_ms(policy, now_ms, earliest_ms)
    when = authority.hub_time_ms(
        offline=intent.offline, created_ms=intent.created_ms, arrival_ms=now_ms, window=window
    )
    zone = rules.time_zone if rules is not None else BUSINESS_TIME_ZONE_DEFAULT
    return when, authority.business_date(when.at_ms, zone)


def sender_of(
    incoming: Incoming,
    device: store.DeviceInfo | None,
    today: dt.date,
    rules: RuleSet | None,
    usage: store.DayUsage,
) -> Sender:
    zone = rules.time_zone if rules is not None else BUSINESS_TIME_ZONE_DEFAULT
    card, device_id = incoming.intent.card_id, incoming.device_id
    return Sender(
        device=device.kind if device is not None else None,
        branch=incoming.branch_id,
        card_day=usage.of(store.Scope.CARD, card, today, zone),
        offline_card=usage.of(store.Scope.OFFLINE_CARD, card, today, zone),
        offline_device=usage.of(store.Scope.OFFLINE_DEVICE, device_id, today, zone),
    )
