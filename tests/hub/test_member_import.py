"""Members moved in from a legacy 会员系统 and out again (hub/member_import.py,
hub/member_export.py), on SQLite and PostgreSQL.

Scenario: a chain's old system exports its members as GB18030 CSV with Chinese
headers. The dry run reports what would be imported and writes nothing; the import
books one opening transfer per member with a balance or points, reconciles, and
`verify` is clean; importing the same file again refuses every row. A file with bad
rows names each by its line and imports nothing (or only the good rows when asked).
Exported again, the members file imports into a second hub with the same totals.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import sqlalchemy as sa

from hub import db, member_export, member_import
from hub.app import Hub
from hub.config import HubConfig
from hub.posting import balance
from hub.privacy_keys import phone_index
from hub.verify import verify_ledger
from tapcard.domain.ledger import member_account
from tapcard.domain.model import Asset, TxKind
from tests.clock import pinned_today
from tests.conftest import Seeded, seed_hub
from tests.hub.test_cli import Cli, hub_cli

__all__ = ["hub_cli"]  # the fixture, used by name

LEGACY = (
    "会员姓名,手机号,会员卡号,身份证号,生日,会员等级,可用积分,储值余额,开卡日期,标签,门店\n"
    '张伟,13912340001,L0001,110101199003071234,1990-03-07,金卡,1200,"1,250.50",2019/05/01,'
    "车主;VIP,shop-1\n"
    "王芳,13912340002,L0002,,,普通,30,,20200102,,\n"
    "刘洋,13912340003,,,,,,,,,\n"
)
TIERS = {"金卡": "gold", "普通": "regular"}


def _legacy_file(tmp_path: Path, text: str = LEGACY, name: str = "legacy.csv") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode("gb18030"))  # what a Chinese Windows system writes
    return path


def _count(hub: Hub, table: sa.Table) -> int:
    with hub.engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one())


def _import(hub: Hub, path: Path, **kw: object) -> member_import.ImportReport:
    with hub.transaction() as conn:
        return member_import.import_file(
            conn,
            path,
            hub.rules.latest(),
            hub.secrets.id_number_hash,
            "test",
            tier_map=TIERS,
            **kw,  # type: ignore[arg-type]
        )


def test_a_legacy_file_imports_with_its_opening_balances(seeded: Seeded, tmp_path: Path) -> None:
    hub, path = seeded.hub, _legacy_file(tmp_path)
    members_before = _count(hub, db.members)
    with hub.engine.connect() as conn:
        dry = member_import.check_file(
            conn, path, hub.rules.latest(), hub.secrets.id_number_hash, TIERS
        )
    assert (dry.rows, dry.members, dry.cards, dry.refused_count) == (3, 3, 2, 0)
    assert (dry.balance_cents, dry.points, dry.transfers, dry.written) == (125_050, 1_230, 2, False)
    assert _count(hub, db.members) == members_before  # a dry run writes nothing
    report = _import(hub, path)
    assert report.written and report.members == 3 and report.refused_count == 0
    assert _count(hub, db.members) == members_before + 3
    with hub.engine.connect() as conn:
        m = db.members
        zhang = conn.execute(
            sa.select(m).where(m.c.phone_index == phone_index("13912340001"))
        ).one()
        assert (zhang.name, zhang.tier, zhang.branch_id) == ("张伟", "gold", "shop-1")
        assert zhang.id_number_masked != "110101199003071234" and zhang.id_number_hash
        assert str(zhang.joined_on) == "2019-05-01"
        card = conn.execute(sa.select(db.cards).where(db.cards.c.id == "L0001")).one()
        assert (card.member_id, card.state) == (zhang.id, "active")
        tags = conn.execute(
            sa.select(db.member_tags.c.tag).where(db.member_tags.c.member_id == zhang.id)
        ).scalars()
        assert sorted(tags) == ["VIP", "车主"]
        assert balance(conn, member_account(zhang.id, Asset.CENTS)) == 125_050
        assert balance(conn, member_account(zhang.id, Asset.POINTS)) == 1_200
        assert balance(conn, "s:opening_balances") == -125_050
        openings = conn.execute(
            sa.select(db.transfers.c.actor, db.transfers.c.reason).where(
                db.transfers.c.kind == TxKind.OPENING.value
            )
        ).all()
        assert len(openings) == 2 and {a for a, _ in openings} == {"test"}
        assert {r for _, r in openings} == {f"import {report.digest[:16]}"}
        assert verify_ledger(conn).ok
    again = _import(hub, path)  # the same file a second time
    assert not again.written and again.refused_count == 3
    assert "a member here has this phone" in again.refused[0]
    assert _count(hub, db.members) == members_before + 3


BAD = (
    "name,phone,card_id,tier,points,balance_yuan,birthday\n"
    "Good One,13912340011,L0011,silver,5,10,\n"  # line 2
    "Bad Phone,12ab,L0012,,,,\n"  # 3
    "Twice,13912340011,L0013,,,,\n"  # 4: the phone of line 2
    "Held Card,13912340014,{card},,,,\n"  # 5: a card this hub issued
    "No Tier,13912340015,L0015,diamond,,,\n"  # 6
    "Too Rich,13912340016,L0016,,,2000,\n"  # 7: above the anonymous card's ¥1,000
    "Bad Day,13912340017,L0017,,,,1990-13-01\n"  # 8
    "Cheap Cents,13912340018,L0018,,,1.234,\n"  # 9
    "Good Two,13912340019,,,7,,\n"  # 10
)


def test_bad_rows_are_named_by_line_and_nothing_is_written(
    seeded_sqlite: Seeded, tmp_path: Path
) -> None:
    hub = seeded_sqlite.hub
    path = tmp_path / "bad.csv"
    path.write_text(BAD.format(card=seeded_sqlite.cards[0]), encoding="utf-8")
    before = (_count(hub, db.members), _count(hub, db.transfers))
    report = _import(hub, path)
    assert not report.written and report.refused_count == 7
    lines = [r.split(":")[0] for r in report.refused]
    assert lines == [f"line {n}" for n in (3, 4, 5, 6, 7, 8, 9)], report.refused
    text = "\n".join(report.refused)
    for expected in (
        "phone must be",
        "given twice in the file",
        "a card here has this number",
        "'diamond' is not one of the rules'",
        "above the 1,000.00 yuan",
        "is not a date",
        "not an amount in yuan",
    ):
        assert expected in text
    assert (_count(hub, db.members), _count(hub, db.transfers)) == before
    kept = _import(hub, path, skip_bad=True)
    assert kept.written and kept.members == 2 and kept.points == 12
    assert _count(hub, db.members) == before[0] + 2


def test_exported_members_import_into_another_hub_with_the_same_totals(
    seeded_sqlite: Seeded, tmp_path: Path
) -> None:
    first = seeded_sqlite.hub
    _import(first, _legacy_file(tmp_path))
    exported = tmp_path / "members.csv"
    with first.engine.connect() as conn, member_export.write_file(exported) as out:
        written = member_export.export_members(conn, out)
    assert written == 5  # the two seeded members and the three imported
    text = exported.read_text(encoding="utf-8-sig")
    assert "张伟,13912340001,L0001" in text and "1250.50" in text
    assert "110101199003071234" not in text  # only the mask leaves the hub
    second = seed_hub(HubConfig(tmp_path / "second", f"sqlite:///{tmp_path / 'b.sqlite3'}", None))
    try:
        with second.hub.transaction() as conn:  # the seeded members are there already
            conn.execute(sa.delete(db.cards).where(db.cards.c.id.in_(second.cards)))
            conn.execute(sa.delete(db.accounts).where(db.accounts.c.member_id.in_(second.members)))
            conn.execute(sa.delete(db.members).where(db.members.c.id.in_(second.members)))
        report = _import(second.hub, exported)
        assert report.refused == [] and report.written
        assert (report.members, report.balance_cents, report.points) == (5, 125_050, 1_230)
        with second.hub.engine.connect() as conn:
            assert balance(conn, "s:opening_balances") == -125_050
            assert verify_ledger(conn).ok
    finally:
        second.hub.close()


def test_import_and_export_from_the_cli(hub_cli: Cli, tmp_path: Path) -> None:
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["姓名", "手机", "卡号", "积分", "余额", "生日"])
    sheet.append(["陈静", 13912340021, "X-0021", 88, 12.5, dt.datetime(1988, 8, 8)])
    sheet.append(["周杰", 13912340022, "X-0022", None, None, None])
    path = tmp_path / "legacy.xlsx"
    book.save(path)
    out = hub_cli.ok("import", str(path), "--dry-run")
    assert "would import 2 members, 2 cards, stored value ¥12.50, 88 points" in out
    assert "imported" not in out
    out = hub_cli.ok("import", str(path))
    assert "imported 2 members" in out and "1 opening transfers" in out
    code, out, _ = hub_cli("import", str(path))  # again: every row is here already
    assert code == 1 and "2 rows refused" in out and "line 2: a member here" in out
    assert "nothing was written" in out
    code, out, _ = hub_cli("import", str(path), "--dry-run", "--json")
    report = json.loads(out)
    assert code == 1  # refused rows: a script sees it in the exit status
    assert report["refused_count"] == 2 and report["written"] is False
    code, _, err = hub_cli("import", str(tmp_path / "missing.csv"))
    assert code == 2 and err.startswith("error: no file")
    members = tmp_path / "out.csv"
    assert "wrote 2 members" in hub_cli.ok("export", "members", str(members))
    assert "陈静,13912340021,X-0021" in members.read_text(encoding="utf-8-sig")
    legs = tmp_path / "legs.csv"
    code, _, err = hub_cli("export", "transactions", str(legs))
    assert code == 2 and "--from and --to" in err
    today = pinned_today().isoformat()
    out = hub_cli.ok("export", "transactions", str(legs), "--from", today, "--to", today)
    assert "wrote 4 ledger legs" in out  # the one opening transfer: stored value and points
    rows = legs.read_text(encoding="utf-8-sig").splitlines()
    assert rows[0].startswith("tx_id,local_time,kind") and ",opening," in rows[1]
    assert any(",yuan,12.50,0.00" in r or ",yuan,0.00,12.50" in r for r in rows[1:])
