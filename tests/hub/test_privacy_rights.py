"""A member's rights under PIPL at the hub, on SQLite and PostgreSQL: their data exported
on request, an account closed by anonymising the person with the ledger intact, the
retention of gate passes, and the log of who read whose profile; through the CLI as
HQ runs it."""

from __future__ import annotations

import json
import stat
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from hub import admin, db, privacy
from hub.admin.audit import audit
from hub.notices.channels import ChannelName, Purpose
from hub.notices.consent import record_consent
from hub.verify import verify_ledger
from launcher import cli
from tapcard.domain.model import Asset
from tests.conftest import Seeded, credit

ANNA = "web:anna"


def _hub_cli(seeded: Seeded, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    config = seeded.hub.config
    capsys.readouterr()
    code = cli.main(
        ["hub", "--data", str(config.data_dir), "--db", config.db_url, "--actor", "cli:hq", *args]
    )
    out, err = capsys.readouterr()
    return code, out + err


def _profile(seeded: Seeded, member_id: int) -> dict[str, Any]:
    with seeded.hub.engine.connect() as conn:
        return admin.member_view(conn, member_id)


def test_a_members_data_on_request(
    seeded: Seeded, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    member_id = seeded.members[0]
    credit(seeded.hub, member_id, Asset.POINTS, 120)
    with seeded.hub.transaction() as conn:
        record_consent(conn, member_id, ChannelName.EMAIL, Purpose.MARKETING, True, "v2", "test")
    out = tmp_path / "member.json"
    code, text = _hub_cli(
        seeded, capsys, "member", "data-export", str(member_id), "--out", str(out)
    )
    assert code == 0, text
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    data = json.loads(out.read_text())
    assert data["format"] == "tapcard.member-data/1"
    assert (data["profile"]["name"], data["profile"]["phone"]) == ("Li Wei", "13800000001")
    assert "phone_index" not in data["profile"] and "id_number_hash" not in data["profile"]
    assert data["profile"]["balances"]["points"] == 120
    [consent] = data["consents"]
    assert (consent["channel"], consent["granted"], consent["terms_version"]) == (
        "email",
        True,
        "v2",
    )
    assert [c["id"] for c in data["profile"]["cards"]] == [seeded.cards[0]]
    [adjustment] = data["ledger"]
    assert {leg["account"] for leg in adjustment["legs"]} >= {f"m:{member_id}:points"}
    assert "member.add" in {row["action"] for row in data["audit"]}
    assert [(a["actor"], a["action"]) for a in data["access_log"]] == [("cli:hq", "data-export")]


def test_closing_anonymises_the_person_and_keeps_the_ledger(
    seeded: Seeded, capsys: pytest.CaptureFixture[str]
) -> None:
    member_id = seeded.members[0]
    credit(seeded.hub, member_id, Asset.CENTS, 5_000)
    code, text = _hub_cli(
        seeded, capsys, "member", "close", str(member_id), "--reason", "asked", "--yes"
    )
    assert code == 2 and "refund it first" in text  # stored value is refunded first
    credit(seeded.hub, member_id, Asset.CENTS, -5_000)
    credit(seeded.hub, member_id, Asset.POINTS, 300)
    code, text = _hub_cli(seeded, capsys, "member", "close", str(member_id), "--reason", "asked")
    assert code == 1 and "nothing closed yet" in text and "Li Wei" in text  # confirmation
    assert _profile(seeded, member_id)["name"] == "Li Wei"
    with seeded.hub.engine.connect() as conn:
        legs_before = conn.execute(sa.select(sa.func.count()).select_from(db.legs)).scalar_one()
    code, text = _hub_cli(
        seeded, capsys, "member", "close", str(member_id), "--reason", "asked", "--yes"
    )
    assert code == 0, text
    view = _profile(seeded, member_id)
    assert view["name"] == f"已注销会员 #{member_id}" and view["state"] == "terminated"
    assert (view["phone"], view["address"], view["birthday"], view["id_number_masked"]) == (
        "", "", None, ""
    )  # fmt: skip
    assert [c["state"] for c in view["cards"]] == ["terminated"]
    with seeded.hub.engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(db.legs)).scalar_one() == (
            legs_before  # points forfeited with the membership: no transfer, no leg touched
        )
        assert verify_ledger(conn).ok
        added = conn.execute(
            sa.select(db.audit.c.detail).where(
                db.audit.c.action == "member.add", db.audit.c.target == str(member_id)
            )
        ).scalar_one()
        assert "13800000001" not in added
        assert admin.search_members(conn, "13800000001") == []
        actions = conn.execute(
            sa.select(db.audit.c.action).where(db.audit.c.target == str(member_id))
        )
        assert "member.anonymise" in set(actions.scalars())
    with seeded.hub.transaction() as conn:  # the phone may join again as a new person
        again = admin.add_member(
            conn, admin.NewMember(name="Li Wei", phone="13800000001"), seeded.hub.rules.latest(),
            "", "test",
        )  # fmt: skip
    assert again != member_id


def test_gate_passes_are_pruned_after_the_retention(seeded: Seeded) -> None:
    hub = seeded.hub
    seeded.add_device("gate-1", kind="gate")
    day = db.DAY_MS
    now = 1_000 * day
    with hub.transaction() as conn:
        privacy.set_location_days(conn, 30, "test")
        for actor, action, age_days in (
            ("device:gate-1", "voucher.use", 31),  # a car at the gate, past the retention
            ("device:gate-1", "voucher.use", 29),  # within it
            ("device:kiosk-1", "voucher.use", 31),  # a counter, not a gate: not location
            ("device:gate-1", "card.lost", 31),  # not a pass
        ):
            audit(conn, actor, action, "V1")
            conn.execute(
                db.audit.update()
                .where(db.audit.c.id == sa.select(sa.func.max(db.audit.c.id)).scalar_subquery())
                .values(at_ms=now - age_days * day)
            )
        transfers = conn.execute(sa.select(sa.func.count()).select_from(db.transfers)).scalar_one()
        assert privacy.prune_location(conn, now) == 1
        assert privacy.prune_location(conn, now) == 0
        left = conn.execute(
            sa.select(db.audit.c.actor, db.audit.c.action).where(db.audit.c.target == "V1")
        ).all()
        assert sorted(left) == [
            ("device:gate-1", "card.lost"),
            ("device:gate-1", "voucher.use"),
            ("device:kiosk-1", "voucher.use"),
        ]
        assert conn.execute(sa.select(sa.func.count()).select_from(db.transfers)).scalar_one() == (
            transfers
        )
    with pytest.raises(Exception, match="1-3650"), hub.transaction() as conn:
        privacy.set_location_days(conn, 0, "test")


def test_who_read_whose_profile(seeded: Seeded, capsys: pytest.CaptureFixture[str]) -> None:
    li, ana = seeded.members
    code, _ = _hub_cli(seeded, capsys, "member", "show", str(li))
    assert code == 0
    with seeded.hub.transaction() as conn:
        privacy.log_access(conn, ANNA, ana, "view", "web", at_ms=5_000)
        privacy.log_access(conn, ANNA, li, "view", "web", at_ms=6_000)
    with seeded.hub.engine.connect() as conn:
        by_anna = privacy.access_entries(conn, privacy.AccessFilter(actor=ANNA))
        about_li = privacy.access_entries(conn, privacy.AccessFilter(member_id=li))
        early = privacy.access_entries(conn, privacy.AccessFilter(until_ms=5_500))
    assert [(e["member_id"], e["at_ms"]) for e in by_anna] == [(li, 6_000), (ana, 5_000)]
    assert [(e["actor"], e["action"], e["via"]) for e in about_li] == [
        ("cli:hq", "show", "cli"),  # the hub's clock: later than the pinned 6 s
        (ANNA, "view", "web"),
    ]
    assert [e["member_id"] for e in early] == [ana]
    code, text = _hub_cli(seeded, capsys, "member", "access-log", "--member", str(ana), "--json")
    assert code == 0 and [e["actor"] for e in json.loads(text)] == [ANNA]
