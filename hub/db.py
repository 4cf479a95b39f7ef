"""The hub's schema (SQLAlchemy Core) and database connections.

SQLite (WAL, synchronous=FULL) is the embedded default; PostgreSQL runs the same code,
chosen by the database URL. The schema only changes through migrations
(hub/migrations); `metadata` here is what the latest migration produces, and a test
holds the two equal.

Ledger invariants are enforced by the database as well as by the domain code: each
leg has exactly one positive side (CHECK), legs are append-only (triggers), and on
PostgreSQL a deferred constraint trigger checks that each transfer sums to zero per
asset at commit. SQLite cannot defer triggers, so the hub runs the same check query
before each commit.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from hub import (
    campaign_schema,
    expiry_schema,
    ledger_schema,
    member_schema,
    portal_schema,
    product_schema,
    refund_schema,
    rules_schema,
    segments_schema,
    staff_schema,
    till_schema,
    voucher_schema,
)
from hub.notices import schema as notice_schema
from hub.web import schema as web_schema
from tapcard.clock import Clock, clock_from_env, today

SQLITE_BUSY_TIMEOUT_MS = 10_000
WRITER_OPTION = "tapcard_writer"
PG_POOL_SIZE = 5

metadata = sa.MetaData()

branches = sa.Table(
    "branches",
    metadata,
    sa.Column("id", sa.String(48), primary_key=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("chain", sa.String(100), nullable=False),
)

devices = sa.Table(
    "devices",
    metadata,
    sa.Column("id", sa.String(48), primary_key=True),
    sa.Column("branch_id", sa.String(48), sa.ForeignKey("branches.id"), nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),  # kiosk | terminal
    sa.Column("public_key", sa.String(64), nullable=False),
    sa.Column("state", sa.String(16), nullable=False),  # active | revoked
    sa.Column("created_ms", sa.BigInteger, nullable=False),
    sa.Column("online", sa.Boolean, nullable=False, default=False),
    sa.Column("status_ms", sa.BigInteger, nullable=False, default=0),
    sa.Column("last_seen_ms", sa.BigInteger, nullable=False, default=0),
    sa.Column("offline_from_ms", sa.BigInteger, nullable=False, default=0),  # hub/registry.py
    sa.Column("health", sa.Text, nullable=False, default="{}"),
    sa.Column("software_version", sa.String(64), nullable=False, default=""),
    sa.Column("rules_version", sa.Integer, nullable=False, default=0),
    sa.Column("denylist_version", sa.Integer, nullable=False, default=0),
    sa.Column("seq_max", sa.BigInteger, nullable=False, default=0),
)

members = sa.Table(
    "members",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("name", member_schema.Sealed(200, "name"), nullable=False),
    sa.Column("phone", member_schema.Sealed(32, "phone"), nullable=False),  # sealed, 0031
    # The national ID number is never stored in full: a mask for display and a keyed
    # hash (HMAC with the hub's secret) to find a member by it.
    sa.Column("id_number_masked", sa.String(64), nullable=False, default=""),
    sa.Column("id_number_hash", sa.String(64), nullable=False, default="", index=True),
    sa.Column("address", member_schema.Sealed(500, "address"), nullable=False, default=""),
    sa.Column("birthday", sa.Date, nullable=True),
    sa.Column("branch_id", sa.String(48), sa.ForeignKey("branches.id"), nullable=True),
    sa.Column("tier", sa.String(32), nullable=False),
    sa.Column("joined_on", sa.Date, nullable=False),
    sa.Column("period_start", sa.Date, nullable=False),  # current tier validity period
    sa.Column("period_growth", sa.BigInteger, nullable=False, default=0),
    sa.Column("last_activity_on", sa.Date, nullable=False),
    sa.Column("state", sa.String(16), nullable=False),  # active | terminated | merged
)
member_schema.define(members)  # phone and ID keys, merged_into (migration 0012)

member_tags = sa.Table(
    "member_tags",
    metadata,
    sa.Column("member_id", sa.Integer, sa.ForeignKey("members.id"), primary_key=True),
    sa.Column("tag", sa.String(48), primary_key=True, index=True),
)

cards = sa.Table(
    "cards",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("member_id", sa.Integer, sa.ForeignKey("members.id"), nullable=False, index=True),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("uid", sa.String(32), nullable=False, default=""),  # chip UID, hex
    sa.Column("issued_on", sa.Date, nullable=False),
    sa.Column("expires_on", sa.Date, nullable=False),
    sa.Column("state_ms", sa.BigInteger, nullable=False, default=0),  # last state change
    sa.Column("replaced_by", sa.String(32), nullable=True),
    # Supplementary cards spend the primary's accounts within their own daily limits.
    sa.Column("daily_cents_max", sa.BigInteger, nullable=True),
    sa.Column("daily_points_max", sa.BigInteger, nullable=True),
)

accounts = sa.Table(
    "accounts",
    metadata,
    sa.Column("code", sa.String(64), primary_key=True),
    sa.Column("asset", sa.String(16), nullable=False),
    sa.Column("member_id", sa.Integer, sa.ForeignKey("members.id"), nullable=True, index=True),
    # Materialised credit-minus-debit of all legs; `verify` re-sums the journal.
    sa.Column("balance", sa.BigInteger, nullable=False, default=0),
)

transfers = sa.Table(
    "transfers",
    metadata,
    sa.Column("tx_id", sa.String(36), primary_key=True),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("device_id", sa.String(48), nullable=True),
    sa.Column("seq", sa.BigInteger, nullable=True),
    sa.Column("card_id", sa.String(32), nullable=True),
    sa.Column("member_id", sa.Integer, nullable=True, index=True),
    sa.Column("branch_id", sa.String(48), nullable=True),
    sa.Column("rules_version", sa.Integer, nullable=False),
    sa.Column("created_ms", sa.BigInteger, nullable=False),  # when it happened (hub's time)
    sa.Column("applied_ms", sa.BigInteger, nullable=False, index=True),  # when booked
    sa.Column("offline", sa.Boolean, nullable=False, default=False),
    sa.Column("actor", sa.String(64), nullable=False, default=""),  # staff or HQ user
    sa.Column("reason", sa.String(500), nullable=False, default=""),
    sa.Column("detail", sa.Text, nullable=False, default="{}"),  # quote, item, receipt
    # A card's and a device's spending by day (hub.ledger_store.load_usage).
    sa.Index("transfers_card_created", "card_id", "created_ms"),
    sa.Index("transfers_device_created", "device_id", "created_ms"),
    # A period's transfers, with who and what for the reports over it (migration 0018).
    sa.Index("transfers_created", "created_ms", "member_id", "kind"),
)

legs = sa.Table(
    "legs",
    metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True),
    sa.Column("tx_id", sa.String(36), sa.ForeignKey("transfers.tx_id"), nullable=False, index=True),
    sa.Column("account", sa.String(64), sa.ForeignKey("accounts.code"), nullable=False),
    sa.Column("asset", sa.String(16), nullable=False),
    sa.Column("debit", sa.BigInteger, nullable=False),
    sa.Column("credit", sa.BigInteger, nullable=False),
    sa.CheckConstraint(
        "(debit > 0 AND credit = 0) OR (debit = 0 AND credit > 0)", name="leg_one_side"
    ),
)

results = sa.Table(
    "results",
    metadata,
    sa.Column("tx_id", sa.String(36), primary_key=True),
    sa.Column("device_id", sa.String(48), nullable=False),
    sa.Column("seq", sa.BigInteger, nullable=False),
    sa.Column("digest", sa.String(64), nullable=False),  # of the intent's body bytes
    sa.Column("accepted", sa.Boolean, nullable=False),
    sa.Column("reason", sa.Integer, nullable=False),
    sa.Column("body", sa.Text, nullable=False),  # the TxResult JSON, answered again as is
    sa.Column("applied_ms", sa.BigInteger, nullable=False),
    sa.UniqueConstraint("device_id", "seq", name="results_device_seq"),
)

# Sums of legs per day, branch, account and shard; spend per member: hub/ledger_schema.py.
daily_totals, member_days = ledger_schema.define(metadata), ledger_schema.member_days(metadata)

# One row per sale line: sales by category, and the receipt a member sees.
sale_lines = sa.Table(
    "sale_lines",
    metadata,
    sa.Column("tx_id", sa.String(36), sa.ForeignKey("transfers.tx_id"), nullable=False, index=True),
    sa.Column("line_no", sa.Integer, nullable=False),
    sa.Column("category", sa.String(64), nullable=False, index=True),
    sa.Column("sku", sa.String(64), nullable=False, default=""),
    sa.Column("quantity", sa.Integer, nullable=False),
    sa.Column("gross_cents", sa.BigInteger, nullable=False),
    sa.Column("created_ms", sa.BigInteger, nullable=False),
    sa.Column("branch_id", sa.String(48), nullable=True),
)

# Which campaigns a sale took part in: campaign effect reports.
transfer_campaigns = sa.Table(
    "transfer_campaigns",
    metadata,
    sa.Column("tx_id", sa.String(36), sa.ForeignKey("transfers.tx_id"), primary_key=True),
    sa.Column("code", sa.String(64), primary_key=True),
    sa.Column("member_id", sa.Integer, nullable=False),
    sa.Column("net_cents", sa.BigInteger, nullable=False),
    sa.Column("campaign_discount_cents", sa.BigInteger, nullable=False),
    sa.Column("created_ms", sa.BigInteger, nullable=False, index=True),
)

receipts = sa.Table(
    "receipts",
    metadata,
    sa.Column("receipt_no", sa.String(64), primary_key=True),
    sa.Column("tx_id", sa.String(36), nullable=False),
)

vouchers = sa.Table(
    "vouchers",
    metadata,
    sa.Column("code", sa.String(32), primary_key=True),
    sa.Column("tx_id", sa.String(36), nullable=False, unique=True),
    sa.Column("item", sa.String(64), nullable=False),
    sa.Column("units", sa.Integer, nullable=False),
    sa.Column("member_id", sa.Integer, nullable=False),
    sa.Column("issued_ms", sa.BigInteger, nullable=False),
    sa.Column("used_ms", sa.BigInteger, nullable=True),
)
voucher_schema.define_voucher_terms(vouchers)  # expiry and place (migration 0013)
refunds, refund_lines = refund_schema.define(metadata, vouchers)  # migration 0009

stock = sa.Table(
    "stock",
    metadata,
    sa.Column("item", sa.String(64), primary_key=True),
    sa.Column("remaining", sa.Integer, nullable=False),
    sa.CheckConstraint("remaining >= 0", name="stock_not_negative"),
)

rule_sets = rules_schema.define(metadata, transfers)  # and transfers.rules_effective

denylist = sa.Table(
    "denylist",
    metadata,
    sa.Column("card_id", sa.String(32), primary_key=True),
    sa.Column("reason", sa.String(32), nullable=False),
    sa.Column("since_ms", sa.BigInteger, nullable=False),
)

exceptions = sa.Table(
    "exceptions",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("kind", sa.String(32), nullable=False),  # offline_overdraw | offline_card_state
    sa.Column("tx_id", sa.String(36), nullable=True, index=True),
    sa.Column("device_id", sa.String(48), nullable=True),
    sa.Column("card_id", sa.String(32), nullable=True),
    sa.Column("member_id", sa.Integer, nullable=True),
    sa.Column("asset", sa.String(16), nullable=False, default=""),
    sa.Column("amount", sa.BigInteger, nullable=False, default=0),
    sa.Column("detail", sa.String(500), nullable=False, default=""),
    sa.Column("created_ms", sa.BigInteger, nullable=False),
    sa.Column("acked_by", sa.String(64), nullable=True),
)

audit = sa.Table(
    "audit",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("at_ms", sa.BigInteger, nullable=False, index=True),
    sa.Column("actor", sa.String(64), nullable=False),
    sa.Column("action", sa.String(64), nullable=False),
    sa.Column("target", sa.String(128), nullable=False, default=""),
    sa.Column("detail", sa.Text, nullable=False, default=""),
)

settings = sa.Table(
    "settings",
    metadata,
    sa.Column("key", sa.String(64), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
)

counters = sa.Table(
    "counters",
    metadata,
    sa.Column("name", sa.String(96), primary_key=True),
    sa.Column("value", sa.BigInteger, nullable=False),
)

# Same check as tapcard.domain.ledger.validate_legs, in SQL: the transfers (of one
# batch) whose legs do not sum to zero per asset.
UNBALANCED_SQL = """
SELECT tx_id, asset, SUM(credit) - SUM(debit) AS total FROM legs
WHERE tx_id IN ({placeholders})
GROUP BY tx_id, asset HAVING SUM(credit) - SUM(debit) <> 0
"""


def is_sqlite(engine: Engine | Connection) -> bool:
    return engine.dialect.name == "sqlite"


def _sqlite_on_connect(dbapi_conn: Any, _record: Any) -> None:
    # Let SQLAlchemy's begin() emit BEGIN IMMEDIATE itself (see _sqlite_on_begin), so
    # the write lock is taken up front and two writers never deadlock on upgrade.
    dbapi_conn.isolation_level = None
    cursor = dbapi_conn.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")  # an acknowledged commit survives power loss
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.close()


def _sqlite_on_begin(conn: Connection) -> None:
    immediate = conn.get_execution_options().get(WRITER_OPTION, False)
    conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


CLOCK_INFO_KEY = "tapcard.clock"  # in each pooled connection's info


def writer(engine: Engine) -> Engine:
    """The same engine (and pool) for write transactions: on SQLite they take the write
    lock at BEGIN, so two writers queue up instead of failing on lock upgrade."""
    return engine.execution_options(**{WRITER_OPTION: True})


def make_engine(url: str, clock: Clock | None = None) -> Engine:
    """An engine for a database URL (sqlite:///path or postgresql+psycopg://...).

    Every connection it hands out carries `clock` (see `clock_of`), so the functions that
    take a connection book with the hub's clock without each caller passing it on.
    """
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    if url.startswith("sqlite"):
        engine = sa.create_engine(url)
        sa.event.listen(engine, "connect", _sqlite_on_connect)
        sa.event.listen(engine, "begin", _sqlite_on_begin)
    else:
        engine = sa.create_engine(url, pool_size=PG_POOL_SIZE, pool_pre_ping=True)
    bound = clock_from_env() if clock is None else clock

    def _bind_clock(_dbapi: Any, record: Any) -> None:
        record.info[CLOCK_INFO_KEY] = bound

    sa.event.listen(engine, "connect", _bind_clock)
    return engine


def clock_of(conn: Connection) -> Clock:
    """The clock of the hub whose engine opened `conn`."""
    found = conn.info.get(CLOCK_INFO_KEY)
    return clock_from_env() if found is None else found


def now_ms(conn: Connection) -> int:
    """Now, by the clock of the hub that opened `conn`."""
    return clock_of(conn).now_ms()


def today_at(conn: Connection) -> dt.date:
    """Today's date by the clock of the hub that opened `conn`."""
    return today(clock_of(conn))


def _placeholder(conn: Connection) -> str:
    return "?" if conn.dialect.paramstyle == "qmark" else "%s"


def bulk_insert(conn: Connection, table: sa.Table, rows: list[dict[str, Any]]) -> None:
    """executemany straight on the driver: the ingest path's inserts without
    SQLAlchemy's per-row parameter processing (10-25 % of the hot path). Values must
    already be what the driver takes (str, int, bool, date)."""
    if not rows:
        return
    columns = list(rows[0])
    marks = ", ".join([_placeholder(conn)] * len(columns))
    # Table and column names come from our own metadata and row dicts, never from input.
    sql = f"INSERT INTO {table.name} ({', '.join(columns)}) VALUES ({marks})"  # noqa: S608
    conn.exec_driver_sql(sql, [tuple(row[c] for c in columns) for row in rows])


DAY_MS = 86_400_000
INT_MAX = 2**63 - 1  # the largest integer a column holds: SQLite INTEGER, PostgreSQL BIGINT


def add_daily_totals(
    conn: Connection, rows: dict[tuple[int, str, str], tuple[int, int, int]], shard: int = 0
) -> None:
    """Upsert (day, branch, account) -> (debit, credit, legs) increments, in key order
    so that concurrent workers never deadlock on these rows; system accounts' on `shard`
    (hub/ledger_schema.py), members' on shard 0."""
    if not rows:
        return
    marks = ", ".join([_placeholder(conn)] * 7)  # only driver placeholders go in
    sql = (
        "INSERT INTO daily_totals (day, branch_id, account, shard, debit, credit, legs) "  # noqa: S608
        f"VALUES ({marks}) "
        "ON CONFLICT (day, branch_id, account, shard) DO UPDATE SET "
        "debit = daily_totals.debit + excluded.debit, "
        "credit = daily_totals.credit + excluded.credit, "
        "legs = daily_totals.legs + excluded.legs"
    )
    params = [(*k, shard if k[2].startswith("s:") else 0, *rows[k]) for k in sorted(rows)]
    conn.exec_driver_sql(sql, params)


def bulk_update(
    conn: Connection, table: sa.Table, key: str, columns: list[str], rows: list[tuple[Any, ...]]
) -> None:
    """UPDATE table SET columns... WHERE key = ?, each row being (*values, key)."""
    if not rows:
        return
    mark = _placeholder(conn)
    sets = ", ".join(f"{c} = {mark}" for c in columns)
    sql = f"UPDATE {table.name} SET {sets} WHERE {key} = {mark}"  # noqa: S608 (our names)
    conn.exec_driver_sql(sql, rows)


# --- web dashboard (migration 0002) -----------------------------------------------

# HQ and branch users of the dashboard. Passwords are argon2id hashes, never stored
# in the clear; a branch manager sees and changes only `branch_id`.
web_users = sa.Table(
    "web_users",
    metadata,
    sa.Column("username", sa.String(64), primary_key=True),
    sa.Column("password_hash", sa.String(200), nullable=False),
    sa.Column("role", sa.String(16), nullable=False),  # admin | manager | auditor
    sa.Column("branch_id", sa.String(48), sa.ForeignKey("branches.id"), nullable=True),
    sa.Column("created_ms", sa.BigInteger, nullable=False),
    sa.Column("disabled", sa.Boolean, nullable=False, default=False),
)

# Server-side sessions: the cookie holds a random token, the table its SHA-256, so a
# copy of the database opens no session; logging out deletes the row.
web_sessions = sa.Table(
    "web_sessions",
    metadata,
    sa.Column("token_hash", sa.String(64), primary_key=True),
    sa.Column("username", sa.String(64), nullable=False, index=True),
    sa.Column("csrf", sa.String(64), nullable=False),
    sa.Column("created_ms", sa.BigInteger, nullable=False),
    sa.Column("expires_ms", sa.BigInteger, nullable=False),
)

# Acknowledged alerts, by alert key (kind:subject). Alerts themselves are computed from
# the live state; an ack lasts while its alert does, so a recurrence alerts again.
alert_acks = sa.Table(
    "alert_acks",
    metadata,
    sa.Column("key", sa.String(128), primary_key=True),
    sa.Column("acked_by", sa.String(64), nullable=False),
    sa.Column("acked_ms", sa.BigInteger, nullable=False),
)

# Recent heartbeats per device, bounded (the dashboard prunes to a fixed count).
device_health = sa.Table(
    "device_health",
    metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True),
    sa.Column("device_id", sa.String(48), nullable=False, index=True),
    sa.Column("at_ms", sa.BigInteger, nullable=False),
    sa.Column("health", sa.Text, nullable=False),
)


# --- staff at counter terminals (migration 0003) -----------------------------------

# Who may log in at a terminal. The PIN is kept as an scrypt hash with its own salt and
# parameters ("scrypt$n$r$p$salt$hash"), never in the clear; every staff request the hub
# answers is audited under the staff id.
staff = sa.Table(
    "staff",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("name", sa.String(64), nullable=False),
    sa.Column("branch_id", sa.String(48), sa.ForeignKey("branches.id"), nullable=False),
    sa.Column("role", sa.String(16), nullable=False),  # cashier | manager
    sa.Column("pin_hash", sa.String(200), nullable=False),
    sa.Column("active", sa.Boolean, nullable=False, default=True),
    sa.Column("created_ms", sa.BigInteger, nullable=False),
)

# Staff sessions, login challenges and failed PIN tries (migration 0006): hub/staff_schema.py.
staff_sessions, staff_challenges, staff_pin_failures = staff_schema.define(metadata)
web_login_failures = web_schema.define(metadata)  # failed dashboard logins (0007)
point_buckets = expiry_schema.define(metadata)  # points by expiry date (0010): expiry_schema
join_by_spend = voucher_schema.define(metadata)  # joined by spend (0013): voucher_schema
products, product_prices, product_catalogs = product_schema.define(metadata)  # 0019
till_shifts, day_closes = till_schema.define(metadata)  # migration 0022: hub/till_schema.py
# Members' contacts and consents, and the notices' outbox (0025): hub/notices/schema.py.
member_contacts, member_consents, notices = notice_schema.define(metadata)
segments, segment_members = segments_schema.define(metadata)  # 0027: hub/segments_schema.py
portal_codes, member_qr_nonces, close_requests = portal_schema.define(metadata)  # 0028
campaign_budgets, campaign_uses = campaign_schema.define(metadata)  # 0030: campaign_schema
