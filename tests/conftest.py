"""Shared fixtures: a private mosquitto per session, throwaway PostgreSQL databases,
hubs on SQLite and PostgreSQL, and guards that fail a test which logs an exception or
leaves threads behind."""

from __future__ import annotations

import logging
import os
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import sqlalchemy as sa
from nacl.signing import SigningKey

from hub import admin
from hub.app import Hub
from hub.broker import PrivateBroker
from hub.config import BrokerAddress, HubConfig
from hub.rulestore import parse_rules, store_rules
from tapcard.domain.ledger import adjustment_legs
from tapcard.domain.model import Asset, TxKind
from tapcard.samples import sample_rules_bytes
from tapcard.wire.keys import new_signing_key, verify_key_text
from tests.clock import pin_environment
from tests.pgcluster import PG_URL_ENV, PgCluster, PgClusterError

# Before any hub, device or app is built, in this process or a child: see tests/clock.py.
pin_environment()

THREAD_GRACE_S = 3.0


# --- guards -----------------------------------------------------------------------


class _ExceptionCollector(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.exc_info is not None:
            self.records.append(record)


@pytest.fixture(autouse=True)
def fail_on_log_exception(request: pytest.FixtureRequest) -> Iterator[None]:
    """Any exception logged during a test fails it (opt out with a marker)."""
    collector = _ExceptionCollector()
    root = logging.getLogger()
    root.addHandler(collector)
    yield
    root.removeHandler(collector)
    if request.node.get_closest_marker("no_fail_on_log_exception"):
        return
    if collector.records:
        first = collector.records[0]
        pytest.fail(f"an exception was logged: {first.getMessage()}\n{first.exc_text or ''}")


@pytest.fixture(autouse=True)
def verify_threads_cleaned_up() -> Iterator[None]:
    before = set(threading.enumerate())
    yield
    deadline = time.monotonic() + THREAD_GRACE_S
    while True:
        leaked = [t for t in threading.enumerate() if t not in before and t.is_alive()]
        if not leaked or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert not leaked, f"threads left behind: {[t.name for t in leaked]}"


# --- broker -----------------------------------------------------------------------


@pytest.fixture(scope="session")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrivateBroker]:
    """One private mosquitto for the session; tests that kill it use `own_broker`. Many
    hubs with their own databases share it, so device topics stay open to anonymous
    clients (tests/hub/test_broker_logins.py runs the embedded broker as shipped)."""
    instance = PrivateBroker(tmp_path_factory.mktemp("broker"), anonymous_devices=True)
    instance.start()
    yield instance
    instance.stop()


@pytest.fixture
def own_broker(tmp_path: Path) -> Iterator[PrivateBroker]:
    instance = PrivateBroker(tmp_path / "broker", anonymous_devices=True)
    instance.start()
    yield instance
    instance.stop()


# --- databases --------------------------------------------------------------------


@pytest.fixture(scope="session")
def pg_admin_url() -> Iterator[str]:
    """$TAPCARD_TEST_PG_URL, or else a throwaway cluster that lives as long as the session."""
    given = os.environ.get(PG_URL_ENV, "").strip()
    if given:
        yield given
        return
    cluster = PgCluster()
    try:
        cluster.start()
    except PgClusterError as exc:
        pytest.fail(f"{exc}\nor set {PG_URL_ENV} to an admin URL of an existing server")
    try:
        yield cluster.admin_url
    finally:
        cluster.stop()


@pytest.fixture(scope="session")
def pg_server(pg_admin_url: str) -> Iterator[sa.Engine]:
    try:
        url = sa.engine.make_url(pg_admin_url)
    except sa.exc.ArgumentError:
        pytest.fail(f"{PG_URL_ENV} is not a database URL: {pg_admin_url!r}")
    if url.drivername == "postgresql":  # the driver the hub uses, not SQLAlchemy's default
        url = url.set(drivername="postgresql+psycopg")
    engine = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
    except sa.exc.OperationalError as exc:
        shown = engine.url.render_as_string(hide_password=True)
        pytest.fail(f"PostgreSQL is not reachable at {shown}: {exc}")
    yield engine
    engine.dispose()


@pytest.fixture
def pg_url(pg_server: sa.Engine) -> Iterator[str]:
    """A throwaway database on `pg_server`, dropped after the test."""
    name = f"tapcard_test_{uuid.uuid4().hex[:12]}"
    with pg_server.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    yield pg_server.url.set(database=name).render_as_string(hide_password=False)
    with pg_server.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'hub.sqlite3'}"
    return str(request.getfixturevalue("pg_url"))


# --- hubs -------------------------------------------------------------------------


@dataclass
class Seeded:
    """A hub with the sample rules, one branch, one device and two members with cards.
    The device is a terminal (it may sell and top up; a kiosk only redeems)."""

    hub: Hub
    device_id: str
    device_key: SigningKey
    cards: list[str]
    members: list[int]

    def add_device(self, device_id: str, kind: str = "terminal") -> SigningKey:
        key = new_signing_key()
        with self.hub.transaction() as conn:
            admin.add_device(
                conn, device_id, "shop-1", kind, verify_key_text(key.verify_key), "test"
            )
        return key


def credit(hub: Hub, member_id: int, asset: Asset, amount: int) -> None:
    """Give a member points, growth or cents the way HQ would: an audited adjustment."""
    with hub.transaction() as conn:
        admin.book_admin(
            conn,
            TxKind.ADJUSTMENT,
            member_id,
            adjustment_legs(member_id, asset, amount),
            "test",
            f"test {asset.value}",
            rules=hub.rules.latest(),
        )


def seed_hub(config: HubConfig) -> Seeded:
    hub = Hub.init(config)
    with hub.transaction() as conn:
        store_rules(conn, parse_rules(sample_rules_bytes()), "test")
    rules = hub.rules.latest()
    key = new_signing_key()
    cards, members = [], []
    with hub.transaction() as conn:
        admin.add_branch(conn, "shop-1", "Shop one", "chain", "test")
        admin.add_device(
            conn, "kiosk-1", "shop-1", "terminal", verify_key_text(key.verify_key), "test"
        )
        for name, phone in (("Li Wei", "13800000001"), ("Ana Silva", "13800000002")):
            member_id = admin.add_member(
                conn, admin.NewMember(name=name, phone=phone, branch_id="shop-1"), rules, "", "test"
            )
            members.append(member_id)
            cards.append(admin.issue_card(conn, member_id, rules, "test"))
    return Seeded(hub, "kiosk-1", key, cards, members)


@pytest.fixture
def seeded(db_url: str, tmp_path: Path) -> Iterator[Seeded]:
    config = HubConfig(data_dir=tmp_path / "hub", db_url=db_url, broker=None)
    result = seed_hub(config)
    yield result
    result.hub.close()


@pytest.fixture
def seeded_sqlite(tmp_path: Path) -> Iterator[Seeded]:
    config = HubConfig(tmp_path / "hub", f"sqlite:///{tmp_path / 'hub.sqlite3'}", None)
    result = seed_hub(config)
    yield result
    result.hub.close()


def broker_address(broker: PrivateBroker) -> BrokerAddress:
    """The hub's login to a private broker (devices connect anonymously)."""
    return broker.hub_address
