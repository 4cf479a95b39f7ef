"""The assembled hub: database, secrets, rules and ledger, shared by CLI and service."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import resources
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DatabaseError, DBAPIError

from hub import privacy_keys
from hub.config import HubConfig
from hub.db import make_engine, writer
from hub.ledger import Ledger
from hub.posting import ensure_system_accounts
from hub.rulestore import RulesCache
from hub.secrets import HubSecrets
from tapcard.clock import Clock, clock_from_env
from tapcard.errors import TapcardError
from tapcard.files import private_folder, private_sqlite

log = logging.getLogger(__name__)


def _alembic_config(conn: Connection) -> Config:
    config = Config()
    config.set_main_option("script_location", str(resources.files("hub") / "migrations"))
    config.attributes["connection"] = conn
    return config


def schema_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def head_revision() -> str:
    config = Config()
    config.set_main_option("script_location", str(resources.files("hub") / "migrations"))
    head = ScriptDirectory.from_config(config).get_current_head()
    assert head is not None
    return head


def migrate(engine: Engine, revision: str = "head") -> None:
    """Bring the schema to `revision` (the latest by default)."""
    with writer(engine).begin() as conn:
        command.upgrade(_alembic_config(conn), revision)


def sqlite_file(url: str) -> Path | None:
    """The database file of a SQLite URL; None for another database or an in-memory one."""
    parsed = sa.engine.make_url(url)
    if not parsed.drivername.startswith("sqlite") or parsed.database in (None, "", ":memory:"):
        return None
    return Path(parsed.database)


class Hub:
    def __init__(
        self, config: HubConfig, make_secrets: bool = False, clock: Clock | None = None
    ) -> None:
        self.config = config
        # The hub's one clock: the ledger, the service and every connection use it.
        self.clock = clock_from_env() if clock is None else clock
        if config.db_url.startswith("sqlite") or make_secrets:
            private_folder(config.data_dir)
        database = sqlite_file(config.db_url)
        if database is not None:
            private_sqlite(database)  # before SQLite makes it (and its -wal, -shm) 0644
        self.engine = make_engine(config.db_url, self.clock)
        self.writer = writer(self.engine)
        self.secrets = HubSecrets.load(config.data_dir, make=make_secrets)
        # Members' name, phone and address open with this key (hub/privacy_keys.py).
        privacy_keys.install(privacy_keys.load(config.data_dir, self.secrets.secret))
        self.rules = RulesCache(self.engine)
        self.ledger = Ledger(
            self.writer,
            self.rules,
            self.secrets.voucher_secret,
            self.clock,
            self.secrets.issuer_key.verify_key,
        )

    @classmethod
    def open(cls, config: HubConfig, clock: Clock | None = None) -> Hub:
        """Open an initialised hub; refuses a database that is behind or unreadable."""
        hub = cls(config, clock=clock)
        hub.reach()
        try:
            current = schema_revision(hub.engine)
        except DatabaseError as exc:
            raise TapcardError(
                f"the database cannot be read ({exc.orig}); restore it with "
                "`tapcard hub restore BACKUP`"
            ) from None
        if current is None:
            raise TapcardError("the database is empty: run `tapcard hub init` first")
        if current != head_revision():
            raise TapcardError(f"the schema is at {current}: run `tapcard hub migrate`")
        return hub

    def reach(self) -> None:
        """Connect once: a server that is not there (or refuses the login) is said as
        such, before anything reads, so it is never taken for a damaged database. SQLite
        has no server (HubConfig checks its folder): a file that fails is damaged."""
        if self.engine.dialect.name == "sqlite":
            return
        try:
            self.engine.connect().close()
        except DBAPIError as exc:
            self.close()
            where = self.engine.url.render_as_string(hide_password=True)
            reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
            raise TapcardError(
                f"cannot reach the database {where} ({reason}): check that the server "
                "runs and accepts this login, or give another --db"
            ) from None

    @classmethod
    def init(cls, config: HubConfig, clock: Clock | None = None) -> Hub:
        hub = cls(config, make_secrets=True, clock=clock)
        hub.reach()
        migrate(hub.engine)
        with hub.writer.begin() as conn:
            ensure_system_accounts(conn)
        return hub

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        with self.writer.begin() as conn:
            yield conn

    def close(self) -> None:
        self.engine.dispose()


def table_counts(engine: Engine, tables: list[sa.Table]) -> dict[str, int]:
    with engine.connect() as conn:
        return {
            t.name: int(conn.execute(sa.select(sa.func.count()).select_from(t)).scalar_one())
            for t in tables
        }
