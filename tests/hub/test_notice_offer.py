"""`tapcard hub notice offer`: a targeted campaign's offer goes to its segment's members
who agreed to marketing, never to its control group (so the uplift report compares
members who were told with members who were not), once per member however often HQ
sends it."""

from __future__ import annotations

import json
from pathlib import Path

import sqlalchemy as sa

from hub import db
from hub.segments import held_out
from tapcard.samples import sample_rules_bytes
from tests.hub.test_cli import Cli, add_member, hub_cli, open_hub

__all__ = ["hub_cli"]  # the fixture, used by name

MEMBERS = 20
OFFER = ("--title-zh", "春季会员日", "--title-en", "Spring member day")
OFFER += ("--text-zh", "本周消费享8折", "--text-en", "20% off this week")


def _rules_with_spring(hub_cli: Cli, tmp_path: Path) -> None:
    doc = json.loads(sample_rules_bytes())
    spring = {"code": "SPRING", "kind": "percent_off", "percent_bp": 2_000}
    doc.update(version=2, campaigns=[{**spring, "segment": "vip", "control_percent": 50}])
    path = tmp_path / "spring.json"
    path.write_text(json.dumps(doc), encoding="utf-8")
    assert "rule set 2" in hub_cli.ok("rules", "load", str(path))


def test_an_offer_reaches_the_segment_but_not_its_control_group(
    hub_cli: Cli, tmp_path: Path
) -> None:
    _rules_with_spring(hub_cli, tmp_path)
    members = [add_member(hub_cli, f"Member {i}", f"1390000{i:04d}") for i in range(MEMBERS)]
    outsider = add_member(hub_cli, "Not VIP", "13911112222")
    for member in [*members, outsider]:
        hub_cli.ok(
            "notice", "consent", str(member), "--channel", "sms", "--purpose", "marketing",
            "--terms", "v1", "--grant",
        )  # fmt: skip
    for member in members:
        hub_cli.ok("member", "tag", "add", str(member), "vip")
    hub_cli.ok("segment", "add", "vip", "--name", "VIP", "--rules", '{"tags_any": ["vip"]}',
               "--refresh")  # fmt: skip

    sent = hub_cli.json("notice", "offer", "SPRING", *OFFER, "--json")
    control = {m for m in members if held_out(m, "SPRING", 50)}
    assert 0 < len(control) < MEMBERS, "a 50 % control group of 20 holds some, not all"
    assert sent["members in the segment"] == MEMBERS
    assert sent["held out (control group)"] == len(control)
    assert sent["notices recorded"] == MEMBERS - len(control)
    hub = open_hub(hub_cli)
    with hub.engine.connect() as conn:
        rows = conn.execute(sa.select(db.notices).where(db.notices.c.kind == "campaign")).all()
    assert {r.member_id for r in rows} == set(members) - control  # not the outsider either
    assert all(r.purpose == "marketing" and "本周消费享8折" in r.body for r in rows)

    again = hub_cli.json("notice", "offer", "SPRING", *OFFER, "--json")
    assert again["notices recorded"] == 0  # once per member, whatever HQ does


def test_an_offer_needs_a_known_campaign_and_an_audience(hub_cli: Cli) -> None:
    code, out, err = hub_cli("notice", "offer", "NOPE", *OFFER)
    assert code == 2 and out == "" and err.count("\n") == 1
    assert err.startswith("error: no campaign NOPE") and "rules show" in err
    campaigns = hub_cli.json("rules", "show")["campaigns"]
    untargeted = next(c["code"] for c in campaigns if not c.get("segment"))
    code, _, err = hub_cli("notice", "offer", untargeted, *OFFER)
    assert code == 2 and "--segment" in err and err.count("\n") == 1
