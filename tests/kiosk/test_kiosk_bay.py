"""The kiosk paired with wash bay 2, driven by touch on the offscreen window: a member
redeems a car wash, the hub starts bay 2 (its real process, tests/device/gate_proc.py)
and the result screen says so in Chinese and English beside the voucher."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from hub import bays
from tapcard.readers.sim import SimReader
from tests import kivy_env
from tests.device.conftest import Rig, bundle_json
from tests.device.test_gate_proc import Proc, provision
from tests.kiosk.conftest import Kiosk
from tests.kiosk.test_kiosk_flow import _press, give_points


@pytest.fixture
def bay(rig: Rig) -> Iterator[Proc]:
    folder = provision(rig, "bay-2", "wash_bay")
    proc = Proc(folder, hold_s=0.1)
    try:
        assert proc.line()["ready"] == "bay-2"
        proc.ask("WARM-UP")  # answered once its session (and subscription) is up
        yield proc
    finally:
        proc.stop()


@pytest.fixture
def paired(rig: Rig, bay: Proc) -> Iterator[Kiosk]:
    rig.bundles["kiosk-2"] = bundle_json(rig.seeded, "kiosk-2", rig.broker, "kiosk")
    with rig.seeded.hub.transaction() as conn:
        bays.pair(conn, "kiosk-2", "bay-2", "2", "test")
    window = kivy_env.window()
    from kiosk.app import KioskApp

    reader = SimReader()
    runtime = rig.device("kiosk-2", reader=reader)
    app = KioskApp(runtime, reader, "Shop one", "en")
    root = app.build()
    window.add_widget(root)  # type: ignore[attr-defined]  # kivy_env.window() is typed object
    kivy_env.pump()
    yield Kiosk(rig, app, reader, root)
    app.dispatch("on_stop")
    window.remove_widget(root)  # type: ignore[attr-defined]  # kivy_env.window() is typed object
    reader.close()


def test_a_wash_at_a_paired_kiosk_starts_bay_2(paired: Kiosk, bay: Proc) -> None:
    give_points(paired, 0, 1_000)
    paired.tap(paired.rig.seeded.cards[0])
    paired.wait_screen("member")
    paired.presenter.choose("WASH-STANDARD")
    confirm = paired.wait_screen("confirm")
    _press(confirm.ids.confirm)
    result = paired.wait_screen("result", 20)
    kivy_env.pump(lambda: "Bay 2 is starting" in result.summary, 15)
    started = bay.line()
    assert (started["start"], started["ok"]) == (result.voucher, True) and bay.closes() == 1
    paired.shoot("kiosk_result_bay_en")
    paired.app.toggle_language()
    kivy_env.pump()
    assert "2号洗车位正在启动" in result.summary and "Bay" not in result.summary
    paired.shoot("kiosk_result_bay_zh")
