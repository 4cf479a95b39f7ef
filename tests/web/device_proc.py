"""A device-like process for dashboard tests: connects to the broker with a signed
retained last will on its status topic, says it is online, heartbeats, and waits to be
killed. Run as: python -m tests.web.device_proc HOST PORT DEVICE_ID KEY_HEX [HEARTBEAT_S]
"""

from __future__ import annotations

import sys
import time

import paho.mqtt.client as mqtt
from nacl.signing import SigningKey
from paho.mqtt.enums import CallbackAPIVersion

from tapcard.wire import messages as m
from tapcard.wire.envelope import seal
from tapcard.wire.topics import Family, device_topic
from tests.clock import pinned_now_ms

RUN_S_MAX = 300.0  # never outlive a forgotten test


def main() -> int:
    host, port, device_id, key_hex = sys.argv[1:5]
    heartbeat_s = float(sys.argv[5]) if len(sys.argv) > 5 else 1.0
    key = SigningKey(bytes.fromhex(key_hex))
    status_topic = device_topic(device_id, Family.STATUS)
    health_topic = device_topic(device_id, Family.HEALTH)
    at_ms = pinned_now_ms()
    will = seal(key, device_id, status_topic, m.Status(device=device_id, online=False, at_ms=at_ms))
    client = mqtt.Client(
        CallbackAPIVersion.VERSION2, client_id=f"webtest-{device_id}", protocol=mqtt.MQTTv5
    )
    client.will_set(status_topic, will, qos=1, retain=True)
    client.connect(host, int(port), keepalive=5)
    client.loop_start()
    online = m.Status(device=device_id, online=True, at_ms=at_ms)
    client.publish(status_topic, seal(key, device_id, status_topic, online), qos=1, retain=True)
    deadline = time.monotonic() + RUN_S_MAX
    while time.monotonic() < deadline:
        health = m.Health(
            device=device_id,
            at_ms=pinned_now_ms(),
            software_version="0.1.0-test",
            rules_version=1,
            outbox_depth=3,
            disk_free_bytes=8 * 2**30,
        )
        client.publish(health_topic, seal(key, device_id, health_topic, health), qos=1)
        print("beat", flush=True)
        time.sleep(heartbeat_s)
    return 0


if __name__ == "__main__":
    sys.exit(main())
