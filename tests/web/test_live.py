"""The live dashboard end to end: a real hub service on a private mosquitto, the
dashboard on a real uvicorn, and a device-like process with a signed retained last will.

Scenario: the device comes online and heartbeats; an HQ user logs in with a real
headless Chromium and sees it online. The device is killed with -9: the broker
publishes its will, the hub marks it offline, and the fleet page shows `offline`
within 2 s without a reload (server-sent events). The user acknowledges the alert,
finds a member, reports a card lost and opens a report whose chart renders.
Screenshots of the main pages go to docs/screenshots/ (tests/screenshots.py says when).
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator

import httpx
import pytest
import sqlalchemy as sa

from hub import db, registry
from hub.broker import PrivateBroker
from hub.service import HubService
from hub.web.server import WebServer
from tests.conftest import broker_address
from tests.screenshots import shots_dir
from tests.web.conftest import PASSWORD, WebHub, log_in

OFFLINE_SHOWN_S_MAX = 2.0
WAIT_S = 15.0


class DeviceProcess:
    def __init__(self, web_hub: WebHub, broker: PrivateBroker, heartbeat_s: float = 1.0) -> None:
        seeded = web_hub.seeded
        args = [
            sys.executable,
            "-m",
            "tests.web.device_proc",
            broker.host,
            str(broker.port),
            seeded.device_id,
            seeded.device_key.encode().hex(),
            str(heartbeat_s),
        ]
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        assert self.proc.stdout is not None
        assert self.proc.stdout.readline().strip() == b"beat", self.proc.stderr

    def beats(self, count: int) -> None:
        """Wait until the device has sent `count` more heartbeats."""
        assert self.proc.stdout is not None
        for _ in range(count):
            assert self.proc.stdout.readline().strip() == b"beat"

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=WAIT_S)

    def close(self) -> None:
        if self.proc.poll() is None:
            self.kill()
        for stream in (self.proc.stdout, self.proc.stderr):
            if stream is not None:
                stream.close()


@pytest.fixture
def service(web_hub: WebHub, own_broker: PrivateBroker) -> Iterator[HubService]:
    instance = HubService(
        web_hub.seeded.hub, broker_address(own_broker), worker=uuid.uuid4().hex[:8]
    )
    instance.start()
    assert instance.wait_connected(WAIT_S)
    yield instance
    instance.stop()


@pytest.fixture
def device(
    web_hub: WebHub, own_broker: PrivateBroker, service: HubService
) -> Iterator[DeviceProcess]:
    proc = DeviceProcess(web_hub, own_broker)
    yield proc
    proc.close()


def _presence(web_hub: WebHub) -> bool:
    with web_hub.seeded.hub.engine.connect() as conn:
        return bool(
            conn.execute(
                sa.select(db.devices.c.online).where(db.devices.c.id == "kiosk-1")
            ).scalar()
        )


def _wait(predicate: object, what: str) -> None:
    deadline = time.monotonic() + WAIT_S
    while not predicate():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def test_event_stream_shows_a_killed_device_offline_within_2_s(
    web_hub: WebHub, live_server: WebServer, device: DeviceProcess
) -> None:
    _wait(lambda: _presence(web_hub), "the device online")
    with httpx.Client(base_url=live_server.url, timeout=WAIT_S, follow_redirects=True) as client:
        log_in(client, "hq")
        with client.stream("GET", "/api/events") as stream:
            lines = stream.iter_lines()
            _next_fleet(lines, lambda d: d["presence"] == "online")
            killed_at = time.monotonic()
            device.kill()
            _next_fleet(lines, lambda d: d["presence"] == "offline")
            shown_s = time.monotonic() - killed_at
    assert shown_s <= OFFLINE_SHOWN_S_MAX, f"offline shown after {shown_s:.2f} s"


def test_the_hub_keeps_a_bounded_heartbeat_history(
    web_hub: WebHub,
    own_broker: PrivateBroker,
    service: HubService,
    client_for: Callable[[str], tuple[object, str]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Every heartbeat is recorded by the hub as it arrives (no dashboard polling), newest
    first in the API, and only the newest HEALTH_HISTORY_PER_DEVICE_MAX are kept."""
    monkeypatch.setattr(registry, "HEALTH_HISTORY_PER_DEVICE_MAX", 3)
    device = DeviceProcess(web_hub, own_broker, heartbeat_s=0.05)
    h = db.device_health

    def recorded() -> int:
        with web_hub.seeded.hub.engine.connect() as conn:
            return int(conn.execute(sa.select(sa.func.max(h.c.id))).scalar() or 0)

    try:
        device.beats(6)
        _wait(lambda: recorded() >= 6, "six heartbeats recorded")
    finally:
        device.close()
    client, _ = client_for("hq")
    history = client.get("/api/devices/kiosk-1/health").json()  # type: ignore[attr-defined]
    assert len(history) == 3
    stamps = [entry["at_ms"] for entry in history]
    assert stamps == sorted(stamps, reverse=True) and len(set(stamps)) == 3
    assert {entry["software_version"] for entry in history} == {"0.1.0-test"}
    assert {entry["outbox_depth"] for entry in history} == {3}


def _next_fleet(lines: Iterator[str], want: object) -> None:
    for line in lines:
        if not line.startswith("data: "):
            continue
        data = json.loads(line[6:])
        kiosk = [d for d in data["devices"] if d["id"] == "kiosk-1"]
        if kiosk and want(kiosk[0]):  # type: ignore[operator]
            return
    raise AssertionError("the stream ended")


def _shot(page: object, name: str) -> None:
    page.screenshot(path=str(shots_dir() / f"{name}.png"), full_page=True)  # type: ignore[attr-defined]


def test_browser_end_to_end(
    web_hub: WebHub, live_server: WebServer, device: DeviceProcess, browser_page: object
) -> None:
    page = browser_page
    from tests.hub.support import Device, purchase, staff_on_duty

    seeded = web_hub.seeded
    sender = Device("kiosk-1", seeded.device_key)
    ana = staff_on_duty(seeded.hub, "kiosk-1", "ana")
    seeded.hub.ledger.apply_batch(
        [
            sender.incoming(seeded.cards[i % 2], purchase(5_000 + 700 * i), staff=ana)
            for i in range(6)
        ]
    )
    _wait(lambda: _presence(web_hub), "the device online")
    page.goto(live_server.url + "/fleet")  # type: ignore[attr-defined]
    page.fill("input[name=username]", "hq")  # type: ignore[attr-defined]
    page.fill("input[name=password]", PASSWORD)  # type: ignore[attr-defined]
    page.click("button[type=submit]")  # type: ignore[attr-defined]
    state = page.locator("#dev-kiosk-1 [data-f=presence]")  # type: ignore[attr-defined]
    state.wait_for()
    _wait(lambda: state.inner_text() == "online", "online shown")
    page.locator("#live").filter(has_text="live").wait_for()  # type: ignore[attr-defined]
    _shot(page, "fleet")
    killed_at = time.monotonic()
    device.kill()
    deadline = killed_at + OFFLINE_SHOWN_S_MAX
    while state.inner_text() != "offline" and time.monotonic() < deadline + 3:
        time.sleep(0.02)
    shown_s = time.monotonic() - killed_at
    assert state.inner_text() == "offline"
    assert shown_s <= OFFLINE_SHOWN_S_MAX, f"offline shown after {shown_s:.2f} s"

    page.click("nav >> text=Alerts")  # type: ignore[attr-defined]
    row = page.locator("tr[data-key='offline:kiosk-1']")  # type: ignore[attr-defined]
    row.locator("button").click()
    page.locator("text=acknowledged offline:kiosk-1").wait_for()  # type: ignore[attr-defined]
    assert "acknowledged by hq" in row.inner_text()
    _shot(page, "alerts")

    page.click("nav >> text=Members")  # type: ignore[attr-defined]
    page.fill("input[name=q]", "Li Wei")  # type: ignore[attr-defined]
    page.press("input[name=q]", "Enter")  # type: ignore[attr-defined]
    page.click("td >> text=Li Wei")  # type: ignore[attr-defined]
    card = seeded.cards[0]
    page.on("dialog", lambda dialog: dialog.accept())  # type: ignore[attr-defined]
    page.locator(f"#card-{card} button.danger").click()  # type: ignore[attr-defined]
    page.locator(f"text=card {card} reported lost").wait_for()  # type: ignore[attr-defined]
    assert page.locator(f"#card-{card} .state").inner_text() == "lost"  # type: ignore[attr-defined]
    _shot(page, "member")

    page.goto(live_server.url + "/reports?name=turnover")  # type: ignore[attr-defined]
    page.wait_for_selector("canvas#chart[data-rendered='1']")  # type: ignore[attr-defined]
    assert page.evaluate("window.tapcardChart.data.datasets.length") == 1  # type: ignore[attr-defined]
    _shot(page, "report-turnover")
    for name in ("staff", "points"):
        page.goto(live_server.url + f"/reports?name={name}")  # type: ignore[attr-defined]
        page.wait_for_selector("canvas#chart[data-rendered]")  # type: ignore[attr-defined]
        _shot(page, f"report-{name}")
    for path, name in (("/devices/kiosk-1", "device"), ("/rules", "rules")):
        page.goto(live_server.url + path)  # type: ignore[attr-defined]
        _shot(page, name)
