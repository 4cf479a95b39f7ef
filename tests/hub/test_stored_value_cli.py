"""`tapcard hub member leave`, `stored-value settle` and `report stored-value` through the
CLI: each shows the member and the amount first and acts only with --yes; audited."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from hub import db
from tapcard.domain.model import Asset
from tests.conftest import credit
from tests.hub.test_cli import Cli, open_hub


@pytest.fixture
def hub_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Cli:
    """A hub with the sample rules, set up through the CLI."""
    run = Cli(tmp_path / "data", capsys)
    run.ok("init")
    run.ok("rules", "load", "--sample")
    return run


def _member_with(run: Cli, cents: int) -> int:
    member_id = int(
        run.json("member", "add", "--name", "Li Wei", "--phone", "13800000001")["member_id"]
    )
    run.json("card", "issue", str(member_id))
    hub = open_hub(run)
    try:
        credit(hub, member_id, Asset.CENTS, cents)
    finally:
        hub.close()
    return member_id


def test_leave_shows_then_refunds_and_settle_refuses_nothing_held(hub_cli: Cli) -> None:
    member = str(_member_with(hub_cli, 12_345))
    code, out, err = hub_cli("member", "leave", member, "--refund", "cash", "--reason", "moving")
    assert code == 1 and "¥123.45" in out and "Li Wei" in out and "--yes" in err
    done = hub_cli.json(
        "member", "leave", member, "--refund", "cash", "--reason", "moving", "--yes"
    )
    assert done["refunded"] == "¥123.45" and done["unclaimed"] == "¥0.00"
    again = hub_cli.error("member", "leave", member, "--reason", "again", "--yes")
    assert again == f"error: member {member} has already left (terminated)"
    none = hub_cli.error(
        "stored-value", "settle", member, "--pay", "cash", "--reason", "x x", "--yes"
    )
    assert none == f"error: member {member} has no unclaimed stored value"
    hub = open_hub(hub_cli)
    with hub.engine.connect() as conn:
        actions = set(conn.execute(sa.select(db.audit.c.action)).scalars())
    hub.close()
    assert "member.leave" in actions


def test_leave_without_refund_then_settle_and_the_report(hub_cli: Cli) -> None:
    member = str(_member_with(hub_cli, 5_000))
    held = hub_cli.json("member", "leave", member, "--reason", "gone quiet", "--yes")
    assert held["unclaimed"] == "¥50.00"
    code, out, _ = hub_cli("stored-value", "settle", member, "--pay", "cash", "--reason", "asked")
    assert code == 1 and "pays out ¥50.00 in cash" in out
    paid = hub_cli.json(
        "stored-value", "settle", member, "--pay", "cash", "--reason", "asked", "--yes"
    )
    assert paid["paid"] == "¥50.00"
    rows = hub_cli.json("report", "stored-value")
    assert rows == [
        {"branch": "hq", "topped_up_yuan": "0.00", "spent_yuan": "0.00", "net_yuan": "0.00"},
        {"branch": "total", "topped_up_yuan": "0.00", "spent_yuan": "0.00", "net_yuan": "0.00"},
    ]
