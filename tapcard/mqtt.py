"""What every tapcard MQTT client does the same way (hub, devices): a persistent MQTT 5
session and no Nagle delay. paho lives here and in the programs, never in the domain or
wire packages."""

from __future__ import annotations

import contextlib
import socket
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties


def connect_persistent(
    client: mqtt.Client, host: str, port: int, keepalive_s: int, session_expiry_s: int
) -> None:
    """Connect in the background with a session the broker keeps across restarts.

    paho's default starts a clean session on every start; the explicit clean_start=False
    and SessionExpiryInterval keep our subscriptions and queued QoS 1 messages.
    """
    props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
    props.SessionExpiryInterval = session_expiry_s
    client.on_socket_open = no_delay
    client.connect_async(host, port, keepalive=keepalive_s, clean_start=False, properties=props)
    client.loop_start()


def no_delay(_client: Any, _userdata: Any, sock: Any) -> None:
    """paho leaves Nagle on: a small message then waits for the delayed ACK (~40 ms)."""
    with contextlib.suppress(OSError, AttributeError):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
