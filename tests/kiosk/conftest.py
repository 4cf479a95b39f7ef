"""Kiosk fixtures: a real hub and mosquitto (the device tests' rig), a kiosk runtime with
the sim reader, and the Kivy app on the one offscreen window of this process."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from tapcard.readers.sim import SimReader, make_sim_card
from tests import kivy_env
from tests.clock import pinned_today
from tests.device.conftest import Rig, fast_link, rig  # noqa: F401  (fixtures)

MASTER = b"\x22" * 32


@dataclass
class Kiosk:
    rig: Rig
    app: Any
    reader: SimReader
    root: Any
    views: list[tuple[str, Any]] = field(default_factory=list)

    @property
    def presenter(self) -> Any:
        return self.app.presenter

    def tap(self, card_id: str, uid: bytes = b"\x04\x10\x20\x30\x40\x50\x60") -> None:
        issuer = self.rig.seeded.hub.secrets.issuer_key
        self.reader.tap(make_sim_card(issuer, MASTER, card_id, uid, pinned_today()))

    def wait_screen(self, name: str, timeout_s: float = 15.0) -> Any:
        kivy_env.pump(lambda: self.presenter.screen == name, timeout_s)
        return self.app.screen(name)

    def shoot(self, name: str) -> None:
        kivy_env.shoot(self.root, name)


@pytest.fixture
def kiosk(rig: Rig) -> Iterator[Kiosk]:  # noqa: F811
    window = kivy_env.window()
    from kiosk.app import KioskApp

    reader = SimReader()
    runtime = rig.device("kiosk-2", reader=reader)
    views: list[tuple[str, Any]] = []
    app = KioskApp(runtime, reader, "Shop one", "en", on_view=lambda s, v: views.append((s, v)))
    root = app.build()
    window.add_widget(root)  # type: ignore[attr-defined]  # kivy_env.window() is typed object
    harness = Kiosk(rig, app, reader, root, views)
    kivy_env.pump()
    yield harness
    app.dispatch("on_stop")  # also lets kv's `app` proxy forget this app
    window.remove_widget(root)  # type: ignore[attr-defined]  # kivy_env.window() is typed object
    reader.close()
