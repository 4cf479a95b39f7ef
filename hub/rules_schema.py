"""The rule sets' table, and the stamp of the effective rules on each transfer
(migration 0023), defined here on the hub's metadata by `hub.db` (whose module is at its
size limit). The queries live in hub/rulestore.py.

`rule_sets` is one row per loaded version, never changed. `transfers.rules_effective`
names the branch's or device's override(s) a transfer was decided with and the digest of
the merged rules (hub/rulestore.py `stamped`); NULL: the chain's own rules of the
transfer's rules_version, as every transfer before the column.
"""

from __future__ import annotations

import sqlalchemy as sa

RULES_EFFECTIVE_CHARS_MAX = 160  # "branch:<48>+device:<48>@<16 hex>" and room


def define(metadata: sa.MetaData, transfers: sa.Table) -> sa.Table:
    """rule_sets on `metadata`; the stamp column on `transfers`."""
    transfers.append_column(
        sa.Column("rules_effective", sa.String(RULES_EFFECTIVE_CHARS_MAX), nullable=True)
    )
    return sa.Table(
        "rule_sets",
        metadata,
        sa.Column("version", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("body", sa.Text, nullable=False),  # the RuleSet JSON
        sa.Column("loaded_ms", sa.BigInteger, nullable=False),
        sa.Column("actor", sa.String(64), nullable=False, default=""),
    )
