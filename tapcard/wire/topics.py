"""Topic names under the one versioned prefix."""

from __future__ import annotations

import enum
import re

PREFIX = "tapcard/v1"
RULES_TOPIC = f"{PREFIX}/rules"
DENYLIST_TOPIC = f"{PREFIX}/denylist"
PRODUCTS_TOPIC = f"{PREFIX}/products"  # the product catalog, retained like the rules
# Effective rules of a branch or a device with its own override (docs/rules.md
# "Overrides"), retained and signed like the chain's on RULES_TOPIC, which stays for
# every device without one and for old devices.
RULES_BRANCH_PREFIX = f"{RULES_TOPIC}/branch"
RULES_DEVICE_PREFIX = f"{RULES_TOPIC}/device"
RULES_SCOPED_FILTER = f"{RULES_TOPIC}/+/+"  # every branch's and device's (the hub's probe)
DEVICE_ID_RE = re.compile(r"[a-z0-9][a-z0-9_-]{0,47}")  # always used with fullmatch
# Several hub workers share the ingest subscription; each message goes to one of them.
SHARED_GROUP = "tapcard-hub"


class Family(enum.StrEnum):
    TX = "tx"  # device -> hub: signed transaction intents, QoS 1
    RESULT = "result"  # hub -> device: accepted / rejected per intent
    STATUS = "status"  # device -> all, retained: online / offline (last will)
    HEALTH = "health"  # device -> hub: heartbeat
    QUERY = "query"  # device -> hub: card snapshot requests (MQTT 5 request/response)
    REPLY = "reply"  # hub -> device: snapshot responses (the query's response topic)
    STAFF = "staff"  # terminal -> hub: staff requests (MQTT 5 request/response)
    STAFF_REPLY = "staff-reply"  # hub -> terminal: answers to staff requests
    CONTROL = "control"  # hub -> device: requests to the device (resend from a sequence)
    BAY = "bay"  # hub -> wash bay: a start the hub issued; hub -> its paired kiosk: the same


def device_topic(device_id: str, family: Family) -> str:
    assert DEVICE_ID_RE.fullmatch(device_id), device_id
    return f"{PREFIX}/dev/{device_id}/{family.value}"


def device_filter(family: Family) -> str:
    """Subscription filter for one family of every device."""
    return f"{PREFIX}/dev/+/{family.value}"


def shared_filter(family: Family) -> str:
    return f"$share/{SHARED_GROUP}/{device_filter(family)}"


def parse_device_topic(topic: str) -> tuple[str, Family] | None:
    """(device id, family) of a device topic, or None when it is not one."""
    parts = topic.split("/")
    if len(parts) != 5 or f"{parts[0]}/{parts[1]}" != PREFIX or parts[2] != "dev":
        return None
    if not DEVICE_ID_RE.fullmatch(parts[3]):
        return None
    try:
        return parts[3], Family(parts[4])
    except ValueError:
        return None


def branch_rules_topic(branch_id: str) -> str:
    assert DEVICE_ID_RE.fullmatch(branch_id), branch_id  # branch ids follow the same form
    return f"{RULES_BRANCH_PREFIX}/{branch_id}"


def device_rules_topic(device_id: str) -> str:
    assert DEVICE_ID_RE.fullmatch(device_id), device_id
    return f"{RULES_DEVICE_PREFIX}/{device_id}"


def scoped_rules_topics(branch_id: str, device_id: str) -> tuple[str, str]:
    """The branch's and the device's rules topics a device subscribes to beside the chain's."""
    return branch_rules_topic(branch_id), device_rules_topic(device_id)


def rules_topic_rank(topic: str) -> int | None:
    """How specific the rules on a rules topic are: 0 the chain's, 1 a branch's, 2 a
    device's; None: not a rules topic. A device holds the newest version, and of one
    version the most specific (tapcard.domain.overrides.SCOPE_RANK)."""
    if topic == RULES_TOPIC:
        return 0
    if topic.startswith(RULES_BRANCH_PREFIX + "/"):
        return 1
    if topic.startswith(RULES_DEVICE_PREFIX + "/"):
        return 2
    return None


def is_valid_device_id(device_id: str) -> bool:
    return DEVICE_ID_RE.fullmatch(device_id) is not None
