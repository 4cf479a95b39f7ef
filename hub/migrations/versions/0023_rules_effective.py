"""Rules per branch and per device: each transfer decided with a branch's or a device's
effective rules carries their stamp, the override(s) and the digest of the merged rule
set (hub/rules_schema.py, hub/rulestore.py `stamped`); NULL: the chain's own rules of
its rules_version.

Revision ID: 0023
Revises: 0022
"""

import sqlalchemy as sa
from alembic import op

revision = "0023"
down_revision = "0022"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("transfers") as batch:
        batch.add_column(sa.Column("rules_effective", sa.String(160), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("transfers") as batch:
        batch.drop_column("rules_effective")
