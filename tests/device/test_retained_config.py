"""A device keeps its rule set and deny list when the broker's retained copy goes bad.

Scenario: a real device runtime is online at a real hub and holds the hub's rules and
deny list. Someone with the rights to (the hub's own login) clears both retained topics:
the device receives the empty messages, keeps what it holds, raises the config_cleared
alarm and counts them. Then an older, hub-signed rule set reaches it (a stale retained
copy): it keeps its newer one and counts it. The hub's next publication still reaches it.
"""

from __future__ import annotations

from dataclasses import replace

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from hub.config import BrokerAddress
from hub.rulestore import store_rules
from tapcard.device import link
from tapcard.wire import messages as m
from tapcard.wire.envelope import HUB_SIGNER, seal
from tapcard.wire.topics import DENYLIST_TOPIC, RULES_TOPIC
from tests.device.conftest import Rig, wait_until


def _publish_retained(address: BrokerAddress, topic: str, payload: bytes) -> None:
    """Publish as `address` logs in, and wait for the broker to take it."""
    client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    client.username_pw_set(address.username, address.password)
    client.connect(address.host, address.port)
    client.loop_start()
    try:
        info = client.publish(topic, payload, qos=1, retain=True)
        info.wait_for_publish(10)
        assert info.is_published()
    finally:
        client.disconnect()
        client.loop_stop()


def test_an_empty_retained_config_leaves_the_device_its_rules(rig: Rig) -> None:
    runtime = rig.device()
    rules_version = runtime.rules_version
    deny_version = runtime.link.handlers.versions()[1]
    assert rules_version >= 1 and link.ALARM_CONFIG_CLEARED not in runtime.alarms()
    for topic in (RULES_TOPIC, DENYLIST_TOPIC):
        _publish_retained(rig.broker.hub_address, topic, b"")
    wait_until(lambda: runtime.link.counters.get("config_cleared", 0) == 2, what="both cleared")
    assert runtime.rules_version == rules_version
    assert runtime.link.handlers.versions() == (rules_version, deny_version)
    assert link.ALARM_CONFIG_CLEARED in runtime.alarms()
    assert runtime.health().alarms.count(link.ALARM_CONFIG_CLEARED) == 1  # reaches the hub


def test_an_older_rule_set_does_not_replace_a_newer_one(rig: Rig) -> None:
    runtime = rig.device()
    hub = rig.seeded.hub
    old = hub.rules.latest()
    with hub.transaction() as conn:
        store_rules(conn, replace(old, version=old.version + 1), "test")
    wait_until(lambda: runtime.rules_version == old.version + 1, what="the newer rules")
    stale = m.RulesDoc(version=old.version, published_ms=hub.clock.now_ms(), rules=old)
    payload = seal(hub.secrets.hub_key, HUB_SIGNER, RULES_TOPIC, stale)
    _publish_retained(rig.broker.hub_address, RULES_TOPIC, payload)
    wait_until(lambda: runtime.link.counters.get("config_stale", 0) == 1, what="stale counted")
    assert runtime.rules_version == old.version + 1
    assert link.ALARM_CONFIG_CLEARED not in runtime.alarms()
