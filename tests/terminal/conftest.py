"""Terminal fixtures: a real hub and mosquitto (the device tests' rig), a terminal runtime
with the sim reader, its staff link, and staff accounts at the hub."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from hub import db
from hub.staff import add_staff
from tapcard.readers.sim import SimCard, SimReader, make_sim_card
from tapcard.ui.worker import READ_POLL_MS, CardWatcher, direct
from terminal.presenters.presenter import TerminalPresenter
from tests import kivy_env  # sets Kivy's environment before any import
from tests.clock import pinned_today
from tests.device.conftest import Rig, bundle_json, fast_link, rig, wait_until  # noqa: F401

MASTER = b"\x33" * 32
PIN = "2468"


@dataclass
class Till:
    rig: Rig
    presenter: TerminalPresenter
    reader: SimReader
    runtime: Any
    link: Any
    views: list[tuple[str, Any]] = field(default_factory=list)
    watcher: CardWatcher | None = None

    def tap(self, card_id: str, uid: bytes = b"\x04\x01\x02\x03\x04\x05\x06") -> None:
        issuer = self.rig.seeded.hub.secrets.issuer_key
        self.swap()
        self.reader.tap(make_sim_card(issuer, MASTER, card_id, uid, pinned_today()))

    def swap(self) -> None:
        """Take the card off and let the watcher notice before the next one comes."""
        self.presenter.card = None
        self.reader.remove()
        time.sleep(2 * READ_POLL_MS / 1000)

    def tap_blank(self, uid: bytes) -> None:
        self.swap()
        key = make_sim_card(
            self.rig.seeded.hub.secrets.issuer_key, MASTER, "x", uid, pinned_today()
        )
        self.reader.tap(SimCard(uid, b"", key.card_seed))

    def wait(self, screen: str, what: str = "") -> Any:
        wait_until(lambda: self.presenter.screen == screen, what=what or screen)
        return self.presenter.view

    def confirm(self) -> Any:
        """The confirmation on screen (a sale's, asked by pay): its Confirm pressed."""
        view = self.wait("confirm")
        self.presenter.confirms.confirm()
        return view

    def card_ready(self) -> None:
        wait_until(
            lambda: (
                self.presenter.card is not None
                and (
                    self.presenter.card.snapshot is not None
                    or self.presenter.card.tap.blank
                    or self.presenter.card.tap.error is not None
                )
            ),
            what="card read",
        )


def register_terminal(rig: Rig, device_id: str) -> None:  # noqa: F811
    """Register `device_id` at the hub as a terminal: the hub answers staff requests, and
    books staff on intents, for terminals only (the rig registers kiosks)."""
    bundle = json.loads(bundle_json(rig.seeded, device_id, rig.broker))
    with rig.seeded.hub.transaction() as conn:
        conn.execute(
            db.devices.update().where(db.devices.c.id == device_id).values(kind="terminal")
        )
    rig.bundles[device_id] = json.dumps({**bundle, "kind": "terminal"}).encode()


def make_till(rig: Rig, device_id: str = "till-1", post: Any = direct) -> Till:  # noqa: F811
    from terminal.staff_link import StaffLink

    register_terminal(rig, device_id)

    with rig.seeded.hub.transaction() as conn:
        add_staff(conn, "ann", "Ann Lee", "shop-1", "manager", PIN, "test")
        add_staff(conn, "bob", "Bob Wu", "shop-1", "cashier", PIN, "test")
    reader = SimReader()
    runtime = rig.device(device_id, reader=reader)
    link = StaffLink(runtime.bundle)
    link.start()
    assert link.connected.wait(10)
    views: list[tuple[str, Any]] = []
    presenter = TerminalPresenter(runtime, link, post, lambda s, v: views.append((s, v)), "en")
    watcher = CardWatcher(reader, runtime.identify, presenter.on_tap, presenter.on_removed, post)
    return Till(rig, presenter, reader, runtime, link, views, watcher)


def close_till(till: Till) -> None:
    assert till.watcher is not None
    till.watcher.stop()
    till.presenter.stop()
    till.link.stop()
    till.reader.close()


@pytest.fixture
def till(rig: Rig) -> Iterator[Till]:  # noqa: F811
    instance = make_till(rig)
    yield instance
    close_till(instance)


@pytest.fixture
def window_app(rig: Rig) -> Any:  # noqa: F811
    """The terminal app on the offscreen window, manager ann logged out."""
    from tapcard.readers.sim import SimReader
    from terminal.app import TerminalApp
    from terminal.staff_link import StaffLink

    window = kivy_env.window()
    with rig.seeded.hub.transaction() as conn:
        add_staff(conn, "ann", "Ann Lee", "shop-1", "manager", PIN, "test")
    register_terminal(rig, "till-2")
    reader = SimReader()
    runtime = rig.device("till-2", reader=reader)
    link = StaffLink(runtime.bundle)
    link.start()
    assert link.connected.wait(10)
    app = TerminalApp(runtime, link, reader, "en")
    root = app.build()
    window.add_widget(root)  # type: ignore[attr-defined]  # kivy_env.window() is typed object
    kivy_env.pump()
    yield app, reader, rig
    app.dispatch("on_stop")  # also lets kv's `app` proxy forget this app
    window.remove_widget(root)  # type: ignore[attr-defined]  # kivy_env.window() is typed object
    link.stop()
    reader.close()
