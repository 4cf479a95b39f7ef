"""Privacy (PIPL): the rest of a member's personal data sealed at rest. A contact's
e-mail address or WeChat openid (member_contacts.address) and each notice's address,
body and template fields (notices.address, body, data: they hold the member's name)
are sealed with the member key as the name and phone are (0031); the login codes'
phone (portal_codes.phone) becomes the phone's blind index.

As in 0031, rows are sealed here when the hub's keys are loaded (`tapcard hub
migrate`, `hub init`); without them they stay plain, read as they are, until `tapcard
hub privacy seal`. A login code's row without the keys cannot get its index: it goes
(a code lives five minutes; the member asks for another).

Revision ID: 0034
Revises: 0033
"""

import sqlalchemy as sa
from alembic import op

from hub import privacy_keys, privacy_seal

revision = "0034"
down_revision = "0033"
branch_labels = None
depends_on = None

_ADDRESS_CHARS = 320
_TABLES = ("member_contacts", "notices")


def _index_login_phones() -> None:
    bind = op.get_bind()
    if not privacy_keys.installed():
        bind.execute(sa.text("DELETE FROM portal_codes"))
        return
    rows = list(bind.execute(sa.text("SELECT id, phone FROM portal_codes")))
    update = sa.text("UPDATE portal_codes SET phone = :phone WHERE id = :id")
    values = [{"id": i, "phone": privacy_keys.phone_index(str(p))} for i, p in rows]
    if values:
        bind.execute(update, values)


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table in _TABLES:
            op.alter_column(
                table, "address", type_=sa.Text(), existing_type=sa.String(_ADDRESS_CHARS)
            )
    privacy_seal.seal_elsewhere(op.get_bind())
    _index_login_phones()


def downgrade() -> None:
    privacy_seal.open_elsewhere(op.get_bind())
    op.get_bind().execute(sa.text("DELETE FROM portal_codes"))  # an index has no way back
    if op.get_bind().dialect.name == "postgresql":
        for table in _TABLES:
            op.alter_column(
                table, "address", type_=sa.String(_ADDRESS_CHARS), existing_type=sa.Text()
            )
