"""`tapcard hub rules load` with overrides and `rules show --branch B --device D`.

Scenario: HQ writes version 2 of the sample rules with an override for shop-1 (a point
per 50 fen) and one for its kiosk (a point per 25 fen) and loads it; `rules show
--branch shop-1` prints shop-1's effective rules with their stamp, `--device kiosk-1`
the kiosk's, and a plain `rules show` the stored rule set with its overrides. A branch
the hub does not know is refused by name, for show and for load, and nothing is loaded.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

from tapcard.samples import sample_rules_bytes
from tests.hub.test_cli import Cli, hub_cli  # noqa: F401 (the fixture)


def _write(tmp_path: Path, *overrides: Mapping[str, object]) -> str:
    rules = json.loads(sample_rules_bytes())
    rules["version"] = 2
    rules["overrides"] = list(overrides)
    path = tmp_path / "rules-2.json"
    path.write_text(json.dumps(rules))
    return str(path)


SHOP1 = {"scope": "branch", "id": "shop-1", "earn": {"cents_per_point": 50}}
KIOSK1 = {"scope": "device", "id": "kiosk-1", "earn": {"cents_per_point": 25}}


def test_rules_show_prints_a_branchs_and_a_devices_effective_rules(
    hub_cli: Cli,  # noqa: F811
    tmp_path: Path,
) -> None:
    hub_cli.ok(
        "device",
        "add",
        "kiosk-1",
        "--branch",
        "shop-1",
        "--kind",
        "kiosk",
        "--out",
        str(tmp_path / "k.json"),
    )
    hub_cli.ok("rules", "load", _write(tmp_path, SHOP1, KIOSK1))
    stored = hub_cli.json("rules", "show")
    assert [o["id"] for o in stored["overrides"]] == ["shop-1", "kiosk-1"]
    shop1 = hub_cli.json("rules", "show", "--branch", "shop-1")
    assert shop1["effective"].startswith("branch:shop-1@")
    assert (shop1["earn"]["cents_per_point"], shop1["overrides"]) == (50, [])
    kiosk = hub_cli.json("rules", "show", "--device", "kiosk-1")
    assert kiosk["effective"].startswith("branch:shop-1+device:kiosk-1@")
    assert kiosk["earn"]["cents_per_point"] == 25
    assert hub_cli.json("rules", "show", "--branch", "shop-1", "--device", "kiosk-1") == kiosk
    assert "no branch 'shop-9'" in hub_cli.error("rules", "show", "--branch", "shop-9")
    assert "not shop-2" in hub_cli.error(
        "rules", "show", "--branch", "shop-2", "--device", "kiosk-1"
    )


def test_loading_an_override_for_an_unknown_branch_is_refused(
    hub_cli: Cli,  # noqa: F811
    tmp_path: Path,
) -> None:
    shop9 = {"scope": "branch", "id": "shop-9", "earn": {"cents_per_point": 50}}
    line = hub_cli.error("rules", "load", _write(tmp_path, shop9))
    assert "override branch 'shop-9': the hub has no branch 'shop-9'" in line
    bad = {"scope": "branch", "id": "shop-1", "earn": {"cents_per_point": 0}}
    line = hub_cli.error("rules", "load", _write(tmp_path, bad))
    assert "override branch 'shop-1': earn.cents_per_point must be >= 1" in line
    assert hub_cli.json("rules", "show")["version"] == 1
