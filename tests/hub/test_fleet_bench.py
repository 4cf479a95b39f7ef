"""bench/fleet.py's core at 20 devices in two branches, so the chain benchmark cannot rot:
every phase runs against a real `tapcard hub serve` and mosquitto with per-device logins,
and the run loses and doubles nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.fleet import TINY, run

pytestmark = pytest.mark.slow  # about a minute: two hub starts and a storm


def test_fleet_bench_core_at_twenty_devices(tmp_path: Path) -> None:
    figures = run(tmp_path, 20, TINY)
    assert figures["devices"] == 20
    assert figures["storm_sent"] > 0 and figures["steady_intents"] > 0
    assert figures["storm_lost"] == figures["storm_doubled"] == 0
    assert figures["storm_verify_errors"] == 0
    assert figures["storm_gave_up"] == 0
    assert figures["cut_devices"] == 10 and figures["cut_offline_shown_s"] <= 2.0
    assert figures["cut_alert_s"] >= 0, "the cut branch raised no alert"
    assert figures["fleet_page_requests"] >= 20 and figures["fleet_page_errors"] == 0
    assert figures["mosquitto_msg_per_s"] > 0
