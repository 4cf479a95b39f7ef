"""Card accounts kept apart (migration 0015), added to `hub.db.members` here because
hub/db.py is at its size limit.

A category or co-branded card is its own points account: the hub gives it an account
holder, a member row of its own (hub/admin/card_accounts.py) whose `person_id` is the
person's own member and whose `program` is the card's program code
(tapcard/domain/programs.py). The ledger's accounts are per member, so that card's
points, growth and stored value never combine with the person's member card or
another program's card. A person's own member row has both NULL.
"""

from __future__ import annotations

import sqlalchemy as sa

from tapcard.domain.programs import PROGRAM_CODE_CHARS_MAX


def define(members: sa.Table) -> None:
    members.append_column(sa.Column("person_id", sa.Integer, nullable=True, index=True))
    members.append_column(sa.Column("program", sa.String(PROGRAM_CODE_CHARS_MAX), nullable=True))
