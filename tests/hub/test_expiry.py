"""The expiry job on SQLite and PostgreSQL: points booked out when their last day has
passed, nothing twice, nothing while the membership is expired, and the renewal that
gives back the days the freeze took.

Scenario: the demo chain lets points expire at the end of the month twelve months after
they were earned. Li earns 100 points on 31 January 2028 and 50 on 29 February 2028,
then spends 30. On 1 February 2029 the 70 left of January's points expire (the 30 spent
were the oldest); running the job again that day books nothing. On 1 March 2029 the
February points go. Ana's card expired in the middle of her points' life: while it is
expired her points stay; when she renews, the points that fell due in the meantime get
back the days they had left when the card expired.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import zoneinfo
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command

from hub import admin, db
from hub.app import Hub, _alembic_config, migrate
from hub.config import HubConfig
from hub.expiry import run_expiry
from hub.point_buckets import liability, member_buckets
from hub.posting import balance
from hub.rulestore import parse_rules, store_rules
from hub.verify import verify_ledger
from launcher import cli
from tapcard.clock import ManualClock
from tapcard.domain.ledger import member_account, system_account
from tapcard.domain.model import Asset, Payment, SystemAccount, TxKind
from tapcard.domain.rules import ExpiryScheme, PointsExpiry
from tapcard.samples import sample_rules_bytes
from tapcard.wire import messages as m
from tapcard.wire.keys import new_signing_key, verify_key_text
from tests.conftest import credit
from tests.hub.support import Device

ZONE = zoneinfo.ZoneInfo("Asia/Shanghai")
D = dt.date


def _ms(day: dt.date, hour: int = 12) -> int:
    return int(dt.datetime(day.year, day.month, day.day, hour, tzinfo=ZONE).timestamp() * 1000)


class Chain:
    def __init__(self, hub: Hub, clock: ManualClock) -> None:
        self.hub, self.clock = hub, clock

    def at(self, day: dt.date, hour: int = 12) -> None:
        self.clock.unix_ms = _ms(day, hour)

    def member(self, name: str, phone: str) -> tuple[int, str]:
        rules = self.hub.rules.latest()
        with self.hub.transaction() as conn:
            new = admin.NewMember(name=name, phone=phone, branch_id="shop-1")
            member_id = admin.add_member(conn, new, rules, "", "test")
            return member_id, admin.issue_card(conn, member_id, rules, "test")

    def points(self, member_id: int) -> int:
        with self.hub.engine.connect() as conn:
            code = member_account(member_id, Asset.POINTS)
            return int(
                conn.execute(
                    sa.select(db.accounts.c.balance).where(db.accounts.c.code == code)
                ).scalar_one()
            )

    def buckets(self, member_id: int) -> list[tuple[dt.date, int]]:
        with self.hub.engine.connect() as conn:
            return member_buckets(conn, member_id)

    def expire(self, today: dt.date) -> int:
        self.at(today, 3)
        return run_expiry(self.hub.writer, self.hub.rules.latest(), today).points

    def expiries(self) -> list[tuple[int, str]]:
        t = db.transfers
        with self.hub.engine.connect() as conn:
            query = sa.select(t.c.member_id, t.c.reason).where(t.c.kind == TxKind.EXPIRY.value)
            return [(int(m), r) for m, r in conn.execute(query.order_by(t.c.applied_ms))]

    def verified(self) -> None:
        with self.hub.engine.connect() as conn:
            assert verify_ledger(conn).errors == []


@pytest.fixture
def chain(db_url: str, tmp_path: Path) -> Iterator[Chain]:
    clock = ManualClock(_ms(D(2028, 1, 1)))
    hub = Hub.init(HubConfig(tmp_path / "hub", db_url, None), clock=clock)
    with hub.transaction() as conn:
        store_rules(conn, parse_rules(sample_rules_bytes()), "test")
        admin.add_branch(conn, "shop-1", "Shop one", "chain", "test")
    yield Chain(hub, clock)
    hub.close()


def test_month_ends_leap_day_and_a_second_run(chain: Chain) -> None:
    li, _card = chain.member("Li Wei", "13800000001")
    chain.at(D(2028, 1, 31), 23)  # late evening: still 31 January in the business zone
    credit(chain.hub, li, Asset.POINTS, 100)
    chain.at(D(2028, 2, 29))
    credit(chain.hub, li, Asset.POINTS, 50)
    credit(chain.hub, li, Asset.POINTS, -30)  # spent: the oldest points go first
    assert chain.buckets(li) == [(D(2029, 1, 31), 100), (D(2029, 2, 28), 50)]

    assert chain.expire(D(2029, 1, 31)) == 0  # 31 January is still a day to spend them
    assert chain.expire(D(2029, 2, 1)) == 70
    assert chain.expire(D(2029, 2, 1)) == 0  # the same day again: nothing more
    assert chain.points(li) == 50
    assert chain.buckets(li) == [(D(2029, 2, 28), 50)]  # January's can no longer matter
    assert chain.expire(D(2029, 2, 28)) == 0
    assert chain.expire(D(2029, 3, 1)) == 50
    assert (chain.points(li), chain.buckets(li)) == (0, [])
    assert chain.expiries() == [
        (li, "70 points expired on 2029-01-31"),
        (li, "50 points expired on 2029-02-28"),
    ]
    with chain.hub.engine.connect() as conn:
        code = system_account(SystemAccount.POINTS_EXPIRED)
        assert balance(conn, code) == 120  # summed from its daily totals
    chain.verified()


def test_expired_card_freezes_points_and_renewal_extends_them(chain: Chain) -> None:
    ana, card = chain.member("Ana Silva", "13800000002")
    chain.at(D(2028, 1, 10))
    credit(chain.hub, ana, Asset.POINTS, 80)  # last day 31 January 2029
    with chain.hub.transaction() as conn:
        conn.execute(
            db.cards.update().where(db.cards.c.id == card).values(expires_on=D(2028, 6, 30))
        )
    assert chain.expire(D(2029, 2, 5)) == 0  # the card has expired: the points are frozen
    assert (chain.points(ana), chain.buckets(ana)) == (80, [(D(2029, 1, 31), 80)])

    chain.at(D(2029, 3, 1))
    with chain.hub.transaction() as conn:
        admin.renew_card(conn, card, chain.hub.rules.latest(), "test", waive_fee=True)
    # Frozen from 1 July 2028 to 1 March 2029 (243 days): the bucket moves on as much.
    assert chain.buckets(ana) == [(D(2029, 1, 31) + dt.timedelta(days=243), 80)]
    assert D(2029, 1, 31) + dt.timedelta(days=243) == D(2029, 10, 1)
    assert chain.expire(D(2029, 3, 2)) == 0
    assert chain.expire(D(2029, 10, 1)) == 0
    assert chain.expire(D(2029, 10, 2)) == 80
    assert chain.points(ana) == 0
    chain.verified()


def test_terminated_member_keeps_points(chain: Chain) -> None:
    bo, _card = chain.member("Bo Chen", "13800000003")
    chain.at(D(2028, 3, 3))
    credit(chain.hub, bo, Asset.POINTS, 10)
    with chain.hub.transaction() as conn:
        conn.execute(db.members.update().where(db.members.c.id == bo).values(state="terminated"))
    assert chain.expire(D(2029, 6, 1)) == 0
    assert (chain.points(bo), chain.buckets(bo)) == (10, [(D(2029, 3, 31), 10)])


def test_liability_and_what_expires_soon(chain: Chain) -> None:
    li, _ = chain.member("Li Wei", "13800000001")
    ana, _ = chain.member("Ana Silva", "13800000002")
    chain.at(D(2028, 1, 5))
    credit(chain.hub, li, Asset.POINTS, 1000)  # last day 31 January 2029
    chain.at(D(2028, 3, 5))
    credit(chain.hub, li, Asset.POINTS, 500)  # last day 31 March 2029
    credit(chain.hub, ana, Asset.POINTS, 301)
    credit(chain.hub, li, Asset.POINTS, -200)  # spent from January's points
    policy = chain.hub.rules.latest().points_expiry
    assert policy.point_cost_millicents == 500  # the sample rules: half a cent a point
    with chain.hub.engine.connect() as conn:
        rows = liability(conn, policy, D(2029, 1, 15))
    assert [(r["points"], r["count"], r["liability_cents"]) for r in rows] == [
        ("outstanding", 1601, 801),
        ("expiring by 2029-02-13", 800, 400),
        ("expiring by 2029-04-14", 1601, 801),
    ]


def test_cli_expires_and_reports(
    chain: Chain, db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    li, _ = chain.member("Li Wei", "13800000001")
    chain.at(D(2028, 1, 5))
    credit(chain.hub, li, Asset.POINTS, 40)
    base = ["hub", "--data", str(tmp_path / "hub"), "--db", db_url, "--actor", "test"]
    capsys.readouterr()
    assert cli.main([*base, "expire-points", "--date", "2029-02-01", "--json"]) == 0
    out, err = capsys.readouterr()  # without --yes: what would expire, nothing booked
    assert json.loads(out) == {"day": "2029-02-01", "members": 1, "points": 40}
    assert "run with --yes" in err and chain.points(li) == 40
    for expected, shown in ((40, "1/1 members"), (0, "")):  # the second run books nothing
        assert cli.main([*base, "expire-points", "--date", "2029-02-01", "--yes", "--json"]) == 0
        out, err = capsys.readouterr()
        assert json.loads(out)["points"] == expected
        assert shown in err  # the plain progress counter, on stderr
    assert chain.points(li) == 0
    assert cli.main([*base, "report", "points-liability", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert rows[0]["points"] == "outstanding" and rows[0]["liability_yuan"] == "0.00"


def test_the_card_shows_the_next_points_to_expire(chain: Chain) -> None:
    li, card = chain.member("Li Wei", "13800000001")
    chain.at(D(2028, 1, 20))
    credit(chain.hub, li, Asset.POINTS, 100)  # last day 31 January 2029
    chain.at(D(2028, 2, 29))
    credit(chain.hub, li, Asset.POINTS, 60)  # last day 28 February 2029
    credit(chain.hub, li, Asset.POINTS, -120)  # January's all spent, 40 of February's left
    chain.at(D(2028, 12, 1))
    with chain.hub.engine.connect() as conn:
        shown = admin.card_snapshot(conn, card, chain.hub.rules.latest())
    assert (shown.points_expiring, shown.points_expire_on) == (40, D(2029, 2, 28))
    credit(chain.hub, li, Asset.POINTS, -40)
    with chain.hub.engine.connect() as conn:
        shown = admin.card_snapshot(conn, card, chain.hub.rules.latest())
    assert (shown.points_expiring, shown.points_expire_on) == (0, None)


def test_a_new_rule_set_changes_only_what_is_earned_after(chain: Chain) -> None:
    li, _ = chain.member("Li Wei", "13800000001")
    chain.at(D(2028, 5, 10))
    credit(chain.hub, li, Asset.POINTS, 10)  # rolling 12 months: 31 May 2029
    rules = chain.hub.rules.latest()
    calendar = dataclasses.replace(
        rules,
        version=rules.version + 1,
        points_expiry=PointsExpiry(ExpiryScheme.CALENDAR, years=1, point_cost_millicents=500),
    )
    with chain.hub.transaction() as conn:
        store_rules(conn, calendar, "test")
    chain.at(D(2028, 12, 31), 23)  # late on 31 December in Shanghai (15:00 UTC)
    credit(chain.hub, li, Asset.POINTS, 20)
    assert chain.buckets(li) == [(D(2029, 5, 31), 10), (D(2029, 12, 31), 20)]
    assert chain.expire(D(2029, 6, 1)) == 10
    assert chain.expire(D(2030, 1, 1)) == 20
    chain.verified()


def test_verify_finds_points_without_buckets(chain: Chain) -> None:
    li, _ = chain.member("Li Wei", "13800000001")
    credit(chain.hub, li, Asset.POINTS, 15)
    chain.verified()
    with chain.hub.transaction() as conn:
        conn.execute(db.point_buckets.delete())
    with chain.hub.engine.connect() as conn:
        errors = verify_ledger(conn).errors
    assert errors == [f"member {li}: 15 points held beyond the expiry buckets"]


def test_points_held_before_the_migration_never_expire(db_url: str) -> None:
    engine = db.make_engine(db_url)
    try:
        with db.writer(engine).begin() as conn:
            command.upgrade(_alembic_config(conn), "0009")
            day = D(2026, 1, 1)
            conn.execute(
                sa.text(
                    "INSERT INTO members (id, name, phone, id_number_masked, id_number_hash, "
                    "address, tier, joined_on, period_start, period_growth, last_activity_on, "
                    "state) VALUES (7, 'M', '1', '', '', '', 'regular', :d, :d, 0, :d, 'active')"
                ),
                {"d": day},
            )
            conn.execute(
                sa.text(
                    "INSERT INTO accounts (code, asset, member_id, balance) "
                    "VALUES ('m:7:points', 'points', 7, 321), ('m:7:cents', 'cents', 7, 5)"
                )
            )
        migrate(engine)
        with engine.connect() as conn:
            assert member_buckets(conn, 7) == [(dt.date.max, 321)]
            code = system_account(SystemAccount.POINTS_EXPIRED)
            found = conn.execute(sa.select(db.accounts.c.asset).where(db.accounts.c.code == code))
            assert found.scalar_one() == "points"
    finally:
        engine.dispose()


def test_renewal_intent_at_the_counter_thaws_the_points(chain: Chain) -> None:
    ana, card = chain.member("Ana Silva", "13800000002")
    chain.at(D(2028, 1, 10))
    credit(chain.hub, ana, Asset.POINTS, 80)  # last day 31 January 2029
    key = new_signing_key()
    with chain.hub.transaction() as conn:
        admin.add_device(conn, "till-1", "shop-1", "terminal", verify_key_text(key.verify_key), "t")
        conn.execute(
            db.cards.update().where(db.cards.c.id == card).values(expires_on=D(2028, 12, 31))
        )
    assert chain.expire(D(2029, 2, 2)) == 0  # frozen since 1 January 2029
    chain.at(D(2029, 2, 11))
    till = Device("till-1", key, rules_version=chain.hub.rules.latest().version)
    [renewed] = chain.hub.ledger.apply_batch([till.incoming(card, m.Renewal(payment=Payment.CASH))])
    assert renewed.accepted, renewed.message
    # Frozen 1 January .. 11 February 2029 (41 days): 31 January moves to 13 March.
    assert chain.buckets(ana) == [(D(2029, 3, 13), 80)]
    assert chain.expire(D(2029, 3, 14)) == 80
    chain.verified()
