"""Initial schema: registry, members, cards, ledger, rules, deny list, audit.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

# Legs are append-only: a correction is a new transfer, never an edit.
SQLITE_APPEND_ONLY = [
    """CREATE TRIGGER legs_no_update BEFORE UPDATE ON legs
       BEGIN SELECT RAISE(ABORT, 'legs are append-only'); END""",
    """CREATE TRIGGER legs_no_delete BEFORE DELETE ON legs
       BEGIN SELECT RAISE(ABORT, 'legs are append-only'); END""",
]

PG_FUNCTIONS = [
    """CREATE FUNCTION legs_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
       BEGIN RAISE EXCEPTION 'legs are append-only' USING ERRCODE = '23514'; END $$""",
    """CREATE TRIGGER legs_no_change BEFORE UPDATE OR DELETE ON legs
       FOR EACH ROW EXECUTE FUNCTION legs_append_only()""",
    # Checked at commit, when every leg of the transfer is in (hordak's check_leg).
    """CREATE FUNCTION legs_balanced() RETURNS trigger LANGUAGE plpgsql AS $$
       DECLARE total BIGINT;
       BEGIN
         SELECT COALESCE(SUM(credit) - SUM(debit), 0) INTO total FROM legs
          WHERE tx_id = NEW.tx_id AND asset = NEW.asset;
         IF total <> 0 THEN
           RAISE EXCEPTION 'transfer % does not balance in %: %', NEW.tx_id, NEW.asset, total
             USING ERRCODE = '23514';
         END IF;
         RETURN NULL;
       END $$""",
    """CREATE CONSTRAINT TRIGGER legs_balanced AFTER INSERT ON legs
       DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION legs_balanced()""",
]


def upgrade() -> None:
    from hub.db import metadata

    bind = op.get_bind()
    # The first migration creates the tables as metadata had them at revision 0001;
    # later migrations alter them step by step.
    metadata.create_all(bind)
    statements = PG_FUNCTIONS if bind.dialect.name == "postgresql" else SQLITE_APPEND_ONLY
    for statement in statements:
        op.execute(sa.text(statement))


def downgrade() -> None:
    from hub.db import metadata

    metadata.drop_all(op.get_bind())
