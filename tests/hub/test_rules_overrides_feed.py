"""The hub publishes the chain's and each branch's rules, and keeps them at the broker.

Scenario: a hub on its own private mosquitto holds rule set 2, in which shop-1 earns a
point per 50 fen. The broker retains the chain's rules (no overrides, no stamp) on the
chain topic and shop-1's effective rules (stamped) on shop-1's topic, both signed by the
hub. Someone with the hub's login clears shop-1's copy: the hub reads its config back
(every RETAINED_CHECK_S, patched down here) and publishes it again. The broker's ACL
gives each device its own branch's and its own rules topics to read, nobody else's.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterator

import pytest

from hub import duties
from hub.broker import PrivateBroker, acl_text
from hub.rulestore import parse_rules, store_rules
from hub.service import HubService
from tapcard.domain.rules import EarnRule, Override, OverrideScope
from tapcard.samples import sample_rules_bytes
from tapcard.wire import messages as m
from tapcard.wire.envelope import signed_by_hub, unseal
from tapcard.wire.topics import RULES_TOPIC, branch_rules_topic, device_rules_topic
from tests.conftest import Seeded
from tests.device.test_retained_config import _publish_retained
from tests.hub.test_retained_config import _wait_retained

SHOP1_TOPIC = branch_rules_topic("shop-1")
WAIT_S = 10.0


@pytest.fixture
def service(
    seeded_sqlite: Seeded, own_broker: PrivateBroker, monkeypatch: pytest.MonkeyPatch
) -> Iterator[HubService]:
    monkeypatch.setattr(duties, "RETAINED_CHECK_S", 1.0)
    override = Override(OverrideScope.BRANCH, "shop-1", earn=EarnRule(cents_per_point=50))
    rules = dataclasses.replace(
        parse_rules(sample_rules_bytes()), version=2, overrides=(override,)
    )
    with seeded_sqlite.hub.transaction() as conn:
        store_rules(conn, rules, "test")
    instance = HubService(seeded_sqlite.hub, own_broker.hub_address, worker="feed")
    instance.start()
    assert instance.wait_connected(WAIT_S)
    yield instance
    instance.stop()


def _doc(seeded: Seeded, topic: str, payload: bytes) -> m.RulesDoc:
    key_for = signed_by_hub(seeded.hub.secrets.hub_key.verify_key)
    return unseal(payload, topic, key_for, m.RulesDoc, m.RULES_PAYLOAD_BYTES_MAX)[1]


def test_the_chain_and_a_branch_each_get_their_rules_again_when_lost(
    service: HubService, seeded_sqlite: Seeded, own_broker: PrivateBroker
) -> None:
    found = _wait_retained(own_broker.address, {RULES_TOPIC, SHOP1_TOPIC})
    chain = _doc(seeded_sqlite, RULES_TOPIC, found[RULES_TOPIC])
    shop1 = _doc(seeded_sqlite, SHOP1_TOPIC, found[SHOP1_TOPIC])
    assert (chain.version, chain.rules.effective, chain.rules.overrides) == (2, "", ())
    assert chain.rules.earn.cents_per_point == 100
    assert shop1.version == 2 and shop1.rules.effective.startswith("branch:shop-1@")
    assert (shop1.rules.earn.cents_per_point, shop1.rules.overrides) == (50, ())
    _publish_retained(own_broker.hub_address, SHOP1_TOPIC, b"")
    deadline = time.monotonic() + WAIT_S
    while service.config.reasserted[SHOP1_TOPIC] == 0:
        assert time.monotonic() < deadline, "shop-1's rules were not published again"
        time.sleep(0.05)
    again = _wait_retained(own_broker.address, {SHOP1_TOPIC})
    assert _doc(seeded_sqlite, SHOP1_TOPIC, again[SHOP1_TOPIC]).rules == shop1.rules


def test_a_device_reads_only_its_branchs_and_its_own_rules() -> None:
    text = acl_text({"kiosk-1": "shop-1", "kiosk-2": "shop-2"})
    blocks = {b.splitlines()[0]: b for b in text.split("\n\n") if b.startswith("user ")}
    kiosk1 = blocks["user kiosk-1"]
    assert f"topic read {RULES_TOPIC}" in kiosk1
    assert f"topic read {SHOP1_TOPIC}" in kiosk1
    assert f"topic read {device_rules_topic('kiosk-1')}" in kiosk1
    assert branch_rules_topic("shop-2") not in kiosk1
    assert device_rules_topic("kiosk-2") not in kiosk1
