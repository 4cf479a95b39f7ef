"""Schema changes go through migrations: the migrated database is exactly the schema
the code describes, on SQLite and PostgreSQL, and the first migration reverses cleanly.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from hub.app import head_revision, migrate, schema_revision
from hub.db import make_engine, metadata


def test_migrations_build_the_schema_the_code_describes(db_url: str) -> None:
    engine = make_engine(db_url)
    try:
        migrate(engine)
        assert schema_revision(engine) == head_revision()
        with engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), metadata)
        assert diff == [], f"the models and the migrations disagree: {diff}"
    finally:
        engine.dispose()


def test_downgrade_to_empty_and_up_again(db_url: str) -> None:
    engine = make_engine(db_url)
    try:
        migrate(engine)
        _downgrade(engine)
        with engine.connect() as conn:
            tables = set(sa.inspect(conn).get_table_names()) - {"alembic_version"}
        assert tables == set()
        migrate(engine)
        assert schema_revision(engine) == head_revision()
    finally:
        engine.dispose()


def _downgrade(engine: sa.Engine) -> None:
    from alembic import command

    from hub.app import _alembic_config
    from hub.db import writer

    with writer(engine).begin() as conn:
        command.downgrade(_alembic_config(conn), "base")
