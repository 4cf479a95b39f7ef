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
    op.create_table(
        "audit",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("at_ms", sa.BigInteger(), nullable=False),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("target", sa.String(length=128), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_audit_at_ms"), "audit", ["at_ms"], unique=False)
    op.create_table(
        "branches",
        sa.Column("id", sa.String(length=48), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("chain", sa.String(length=100), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "counters",
        sa.Column("name", sa.String(length=96), nullable=False),
        sa.Column("value", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )
    op.create_table(
        "denylist",
        sa.Column("card_id", sa.String(length=32), nullable=False),
        sa.Column("reason", sa.String(length=32), nullable=False),
        sa.Column("since_ms", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("card_id"),
    )
    op.create_table(
        "exceptions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("tx_id", sa.String(length=36), nullable=True),
        sa.Column("device_id", sa.String(length=48), nullable=True),
        sa.Column("card_id", sa.String(length=32), nullable=True),
        sa.Column("member_id", sa.Integer(), nullable=True),
        sa.Column("asset", sa.String(length=16), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("detail", sa.String(length=500), nullable=False),
        sa.Column("created_ms", sa.BigInteger(), nullable=False),
        sa.Column("acked_by", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_exceptions_tx_id"), "exceptions", ["tx_id"], unique=False)
    op.create_table(
        "receipts",
        sa.Column("receipt_no", sa.String(length=64), nullable=False),
        sa.Column("tx_id", sa.String(length=36), nullable=False),
        sa.PrimaryKeyConstraint("receipt_no"),
    )
    op.create_table(
        "results",
        sa.Column("tx_id", sa.String(length=36), nullable=False),
        sa.Column("device_id", sa.String(length=48), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("accepted", sa.Boolean(), nullable=False),
        sa.Column("reason", sa.Integer(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("applied_ms", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("tx_id"),
        sa.UniqueConstraint("device_id", "seq", name="results_device_seq"),
    )
    op.create_table(
        "rule_sets",
        sa.Column("version", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("loaded_ms", sa.BigInteger(), nullable=False),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("version"),
    )
    op.create_table(
        "settings",
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("key"),
    )
    op.create_table(
        "stock",
        sa.Column("item", sa.String(length=64), nullable=False),
        sa.Column("remaining", sa.Integer(), nullable=False),
        sa.CheckConstraint("remaining >= 0", name="stock_not_negative"),
        sa.PrimaryKeyConstraint("item"),
    )
    op.create_table(
        "transfers",
        sa.Column("tx_id", sa.String(length=36), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("device_id", sa.String(length=48), nullable=True),
        sa.Column("seq", sa.BigInteger(), nullable=True),
        sa.Column("card_id", sa.String(length=32), nullable=True),
        sa.Column("member_id", sa.Integer(), nullable=True),
        sa.Column("branch_id", sa.String(length=48), nullable=True),
        sa.Column("rules_version", sa.Integer(), nullable=False),
        sa.Column("created_ms", sa.BigInteger(), nullable=False),
        sa.Column("applied_ms", sa.BigInteger(), nullable=False),
        sa.Column("offline", sa.Boolean(), nullable=False),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("reason", sa.String(length=500), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("tx_id"),
    )
    op.create_index(op.f("ix_transfers_applied_ms"), "transfers", ["applied_ms"], unique=False)
    op.create_index(op.f("ix_transfers_member_id"), "transfers", ["member_id"], unique=False)
    op.create_table(
        "vouchers",
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("tx_id", sa.String(length=36), nullable=False),
        sa.Column("item", sa.String(length=64), nullable=False),
        sa.Column("units", sa.Integer(), nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=False),
        sa.Column("issued_ms", sa.BigInteger(), nullable=False),
        sa.Column("used_ms", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("code"),
        sa.UniqueConstraint("tx_id"),
    )
    op.create_table(
        "devices",
        sa.Column("id", sa.String(length=48), nullable=False),
        sa.Column("branch_id", sa.String(length=48), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("public_key", sa.String(length=64), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("created_ms", sa.BigInteger(), nullable=False),
        sa.Column("online", sa.Boolean(), nullable=False),
        sa.Column("status_ms", sa.BigInteger(), nullable=False),
        sa.Column("last_seen_ms", sa.BigInteger(), nullable=False),
        sa.Column("health", sa.Text(), nullable=False),
        sa.Column("software_version", sa.String(length=64), nullable=False),
        sa.Column("rules_version", sa.Integer(), nullable=False),
        sa.Column("denylist_version", sa.Integer(), nullable=False),
        sa.Column("seq_max", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["branch_id"],
            ["branches.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "members",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("phone", sa.String(length=32), nullable=False),
        sa.Column("id_number_masked", sa.String(length=64), nullable=False),
        sa.Column("id_number_hash", sa.String(length=64), nullable=False),
        sa.Column("address", sa.String(length=500), nullable=False),
        sa.Column("birthday", sa.Date(), nullable=True),
        sa.Column("branch_id", sa.String(length=48), nullable=True),
        sa.Column("tier", sa.String(length=32), nullable=False),
        sa.Column("joined_on", sa.Date(), nullable=False),
        sa.Column("period_start", sa.Date(), nullable=False),
        sa.Column("period_growth", sa.BigInteger(), nullable=False),
        sa.Column("last_activity_on", sa.Date(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.ForeignKeyConstraint(
            ["branch_id"],
            ["branches.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_members_id_number_hash"), "members", ["id_number_hash"], unique=False)
    op.create_index(op.f("ix_members_phone"), "members", ["phone"], unique=False)
    op.create_table(
        "sale_lines",
        sa.Column("tx_id", sa.String(length=36), nullable=False),
        sa.Column("line_no", sa.Integer(), nullable=False),
        sa.Column("category", sa.String(length=64), nullable=False),
        sa.Column("sku", sa.String(length=64), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("gross_cents", sa.BigInteger(), nullable=False),
        sa.Column("created_ms", sa.BigInteger(), nullable=False),
        sa.Column("branch_id", sa.String(length=48), nullable=True),
        sa.ForeignKeyConstraint(
            ["tx_id"],
            ["transfers.tx_id"],
        ),
    )
    op.create_index(op.f("ix_sale_lines_category"), "sale_lines", ["category"], unique=False)
    op.create_index(op.f("ix_sale_lines_tx_id"), "sale_lines", ["tx_id"], unique=False)
    op.create_table(
        "transfer_campaigns",
        sa.Column("tx_id", sa.String(length=36), nullable=False),
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=False),
        sa.Column("net_cents", sa.BigInteger(), nullable=False),
        sa.Column("campaign_discount_cents", sa.BigInteger(), nullable=False),
        sa.Column("created_ms", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tx_id"],
            ["transfers.tx_id"],
        ),
        sa.PrimaryKeyConstraint("tx_id", "code"),
    )
    op.create_index(
        op.f("ix_transfer_campaigns_created_ms"), "transfer_campaigns", ["created_ms"], unique=False
    )
    op.create_table(
        "accounts",
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("asset", sa.String(length=16), nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=True),
        sa.Column("balance", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["member_id"],
            ["members.id"],
        ),
        sa.PrimaryKeyConstraint("code"),
    )
    op.create_index(op.f("ix_accounts_member_id"), "accounts", ["member_id"], unique=False)
    op.create_table(
        "cards",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("uid", sa.String(length=32), nullable=False),
        sa.Column("issued_on", sa.Date(), nullable=False),
        sa.Column("expires_on", sa.Date(), nullable=False),
        sa.Column("state_ms", sa.BigInteger(), nullable=False),
        sa.Column("replaced_by", sa.String(length=32), nullable=True),
        sa.Column("daily_cents_max", sa.BigInteger(), nullable=True),
        sa.Column("daily_points_max", sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(
            ["member_id"],
            ["members.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_cards_member_id"), "cards", ["member_id"], unique=False)
    op.create_table(
        "member_tags",
        sa.Column("member_id", sa.Integer(), nullable=False),
        sa.Column("tag", sa.String(length=48), nullable=False),
        sa.ForeignKeyConstraint(
            ["member_id"],
            ["members.id"],
        ),
        sa.PrimaryKeyConstraint("member_id", "tag"),
    )
    op.create_index(op.f("ix_member_tags_tag"), "member_tags", ["tag"], unique=False)
    op.create_table(
        "legs",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("tx_id", sa.String(length=36), nullable=False),
        sa.Column("account", sa.String(length=64), nullable=False),
        sa.Column("asset", sa.String(length=16), nullable=False),
        sa.Column("debit", sa.BigInteger(), nullable=False),
        sa.Column("credit", sa.BigInteger(), nullable=False),
        sa.CheckConstraint(
            "(debit > 0 AND credit = 0) OR (debit = 0 AND credit > 0)", name="leg_one_side"
        ),
        sa.ForeignKeyConstraint(
            ["account"],
            ["accounts.code"],
        ),
        sa.ForeignKeyConstraint(
            ["tx_id"],
            ["transfers.tx_id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_legs_tx_id"), "legs", ["tx_id"], unique=False)
    bind = op.get_bind()
    statements = PG_FUNCTIONS if bind.dialect.name == "postgresql" else SQLITE_APPEND_ONLY
    for statement in statements:
        op.execute(sa.text(statement))


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(sa.text("DROP TRIGGER IF EXISTS legs_balanced ON legs"))
        op.execute(sa.text("DROP TRIGGER IF EXISTS legs_no_change ON legs"))
    op.drop_index(op.f("ix_legs_tx_id"), table_name="legs")
    op.drop_table("legs")
    op.drop_index(op.f("ix_member_tags_tag"), table_name="member_tags")
    op.drop_table("member_tags")
    op.drop_index(op.f("ix_cards_member_id"), table_name="cards")
    op.drop_table("cards")
    op.drop_index(op.f("ix_accounts_member_id"), table_name="accounts")
    op.drop_table("accounts")
    op.drop_index(op.f("ix_transfer_campaigns_created_ms"), table_name="transfer_campaigns")
    op.drop_table("transfer_campaigns")
    op.drop_index(op.f("ix_sale_lines_tx_id"), table_name="sale_lines")
    op.drop_index(op.f("ix_sale_lines_category"), table_name="sale_lines")
    op.drop_table("sale_lines")
    op.drop_index(op.f("ix_members_phone"), table_name="members")
    op.drop_index(op.f("ix_members_id_number_hash"), table_name="members")
    op.drop_table("members")
    op.drop_table("devices")
    op.drop_table("vouchers")
    op.drop_index(op.f("ix_transfers_member_id"), table_name="transfers")
    op.drop_index(op.f("ix_transfers_applied_ms"), table_name="transfers")
    op.drop_table("transfers")
    op.drop_table("stock")
    op.drop_table("settings")
    op.drop_table("rule_sets")
    op.drop_table("results")
    op.drop_table("receipts")
    op.drop_index(op.f("ix_exceptions_tx_id"), table_name="exceptions")
    op.drop_table("exceptions")
    op.drop_table("denylist")
    op.drop_table("counters")
    op.drop_table("branches")
    op.drop_index(op.f("ix_audit_at_ms"), table_name="audit")
    op.drop_table("audit")
    if op.get_bind().dialect.name == "postgresql":
        op.execute(sa.text("DROP FUNCTION IF EXISTS legs_balanced()"))
        op.execute(sa.text("DROP FUNCTION IF EXISTS legs_append_only()"))
