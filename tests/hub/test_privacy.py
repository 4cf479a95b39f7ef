"""Members' name, phone and address sealed at rest (PIPL): what the database holds,
what the readers get, the blind-index search, the seal of rows from before it, and a
key rotation; the same for a contact's e-mail or openid and a notice's address, and
the login codes' phone kept as its blind index only; on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa

from hub import admin, db, privacy, privacy_keys, privacy_seal
from hub.member_schema import Sealed
from hub.notices import outbox
from hub.notices.channels import ChannelName, Purpose
from hub.notices.consent import addresses, set_contact
from tapcard.errors import TapcardError
from tests.conftest import Seeded

RAW = sa.text("SELECT name, phone, address, phone_key, phone_index FROM members WHERE id = :id")


def _raw(seeded: Seeded, member_id: int) -> Any:
    with seeded.hub.engine.connect() as conn:
        return conn.execute(RAW, {"id": member_id}).one()


def _add(seeded: Seeded, name: str, phone: str, address: str = "") -> int:
    with seeded.hub.transaction() as conn:
        member = admin.NewMember(name=name, phone=phone, address=address, branch_id="shop-1")
        return admin.add_member(conn, member, seeded.hub.rules.latest(), "", "test")


def test_the_database_holds_no_name_phone_or_address(seeded: Seeded) -> None:
    member_id = _add(seeded, "张伟", "139 1234 0001", "上海市徐汇区漕溪北路 88 号")
    raw = _raw(seeded, member_id)
    for value in raw[:3]:
        assert value.startswith("enc1:")
    text = " ".join(str(v) for v in raw)
    for secret in ("张伟", "13912340001", "1234", "漕溪"):
        assert secret not in text
    assert raw.phone_key == raw.phone_index == privacy_keys.phone_index("13912340001")
    with seeded.hub.engine.connect() as conn:
        view = admin.member_view(conn, member_id)
    assert (view["name"], view["phone"]) == ("张伟", "139 1234 0001")
    assert view["address"] == "上海市徐汇区漕溪北路 88 号"


def test_search_by_the_whole_phone_or_full_name_only(seeded: Seeded) -> None:
    member_id = _add(seeded, "Wang  Fang", "13912340002")
    with seeded.hub.engine.connect() as conn:

        def found(text: str) -> list[int]:
            return [row["id"] for row in admin.search_members(conn, text)]

        assert found("+86 139-1234-0002") == [member_id]
        assert found("wang fang") == [member_id]  # case and spaces folded
        assert found("\uff37\uff21\uff2e\uff27 \uff26\uff21\uff2e\uff27") == [
            member_id
        ]  # full-width folded (NFKC)
        assert found("1391234") == found("Wang") == []
    with seeded.hub.transaction() as conn:  # a second member with that phone is refused
        try:
            admin.add_member(
                conn, admin.NewMember(name="x", phone="139 1234 0002"), seeded.hub.rules.latest(),
                "", "test",
            )  # fmt: skip
            raise AssertionError("a duplicate phone registered")
        except admin.DuplicateMemberError as exc:
            assert exc.member_id == member_id


def test_rows_from_before_the_seal_are_sealed_by_the_migration_step(seeded: Seeded) -> None:
    member_id = _add(seeded, "Li Na", "13912340003", "Road 1")
    with seeded.hub.transaction() as conn:  # as an older hub wrote it
        conn.execute(
            sa.text(
                "UPDATE members SET name = 'Li Na', phone = '13912340003', address = 'Road 1', "
                "phone_key = '13912340003', phone_index = NULL, name_index = NULL WHERE id = :id"
            ),
            {"id": member_id},
        )
    with seeded.hub.engine.connect() as conn:  # read as plain until sealed
        assert admin.member_view(conn, member_id)["name"] == "Li Na"
    with seeded.hub.transaction() as conn:
        count = privacy_seal.seal_rows(conn)
    assert count.rows == 1 and count.left_plain == 0  # the seeded members were sealed
    raw = _raw(seeded, member_id)
    assert raw.name.startswith("enc1:") and raw.phone_key == privacy_keys.phone_index("13912340003")
    with seeded.hub.engine.connect() as conn:
        assert [r["id"] for r in admin.search_members(conn, "li na")] == [member_id]


def test_a_key_rotation_reseals_every_row_and_drops_the_old_key(seeded: Seeded) -> None:
    member_id = _add(seeded, "Zhou Jie", "13912340004", "Road 2")
    hub = seeded.hub
    before = privacy_keys.sealed_kid(_raw(seeded, member_id).name)
    with hub.transaction() as conn:
        count = privacy.rotate_key(conn, hub.config.data_dir, hub.secrets.secret)
    with hub.engine.connect() as conn:
        members = int(conn.execute(sa.select(sa.func.count()).select_from(db.members)).scalar_one())
    assert count.rows == members
    assert privacy.drop_old_keys(hub.config.data_dir, hub.secrets.secret) == 1
    keys = privacy_keys.load(hub.config.data_dir, hub.secrets.secret)
    assert [kid for kid, _ in keys.keys] == [privacy_keys.sealed_kid(_raw(seeded, member_id).name)]
    assert keys.current != before
    with hub.engine.connect() as conn:
        assert admin.member_view(conn, member_id)["address"] == "Road 2"
        assert [r["id"] for r in admin.search_members(conn, "13912340004")] == [member_id]


CONTACT_RAW = sa.text("SELECT address FROM member_contacts WHERE member_id = :id")
NOTICE_RAW = sa.text("SELECT address, body, data FROM notices WHERE member_id = :id")


def _contact_and_notice(seeded: Seeded, member_id: int, email: str, name: str) -> None:
    """A contact, and a notice recorded as the planner records one."""
    notice = outbox.NewNotice(
        key=f"test:{member_id}", channel=ChannelName.EMAIL, kind="receipt",
        purpose=Purpose.SERVICE, address=email, lang="en", subject="Receipt",
        body=f"Dear {name}, ...", data={"name": name}, member_id=member_id,
    )  # fmt: skip
    with seeded.hub.transaction() as conn:
        set_contact(conn, member_id, ChannelName.EMAIL, email, "en", "test")
        assert outbox.enqueue(conn, [notice], 0) == 1


def _raw_addresses(seeded: Seeded, member_id: int) -> list[str]:
    """The contact's address, then the notice's address, body and fields, as stored."""
    with seeded.hub.engine.connect() as conn:
        contact = conn.execute(CONTACT_RAW, {"id": member_id}).scalar_one()
        notice = conn.execute(NOTICE_RAW, {"id": member_id}).one()
    return [str(contact), *(str(v) for v in notice)]


def test_a_contact_and_a_notice_hold_no_address_in_clear(seeded: Seeded) -> None:
    member_id = _add(seeded, "Sun Li", "13912340005")
    _contact_and_notice(seeded, member_id, "sun.li@example.cn", "Sun Li")
    for raw in _raw_addresses(seeded, member_id):
        assert raw.startswith("enc1:") and "sun.li" not in raw and "Sun Li" not in raw
    n = db.notices
    with seeded.hub.engine.connect() as conn:
        found = addresses(conn, [member_id], ChannelName.EMAIL)
        notice = conn.execute(sa.select(n.c.address, n.c.body, n.c.data)).one()
    assert found == {member_id: ("sun.li@example.cn", "en")}
    assert tuple(notice) == ("sun.li@example.cn", "Dear Sun Li, ...", '{"name":"Sun Li"}')
    contact = _raw_addresses(seeded, member_id)[0]
    with seeded.hub.transaction() as conn:  # a contact's seal does not open as a notice's
        conn.execute(sa.text("UPDATE notices SET address = :a"), {"a": contact})
    with seeded.hub.engine.connect() as conn, pytest.raises(TapcardError, match="does not open"):
        conn.execute(sa.select(db.notices.c.address)).scalars().all()


def test_plain_addresses_from_an_older_hub_are_sealed_then_resealed(seeded: Seeded) -> None:
    member_id = _add(seeded, "Qian Yu", "13912340006")
    _contact_and_notice(seeded, member_id, "qian.yu@example.cn", "Qian Yu")
    with seeded.hub.transaction() as conn:  # as a hub before migration 0034 wrote them
        for table in ("member_contacts", "notices"):
            conn.execute(sa.text(f"UPDATE {table} SET address = 'qian.yu@example.cn'"))
        conn.execute(sa.text("UPDATE notices SET body = 'Dear Qian Yu', data = '{}'"))
    with seeded.hub.engine.connect() as conn:  # read as plain until sealed
        assert addresses(conn, [member_id], ChannelName.EMAIL)[member_id][0] == "qian.yu@example.cn"
    with seeded.hub.transaction() as conn:
        assert privacy.seal_all(conn).elsewhere == 4  # contact; notice address, body, data
        assert privacy.seal_all(conn).elsewhere == 0  # sealed once
    before = _raw_addresses(seeded, member_id)
    assert all(privacy_keys.is_sealed(raw) for raw in before)
    hub = seeded.hub
    with hub.transaction() as conn:
        count = privacy.rotate_key(conn, hub.config.data_dir, hub.secrets.secret)
    assert count.elsewhere == 4
    privacy.drop_old_keys(hub.config.data_dir, hub.secrets.secret)
    after = _raw_addresses(seeded, member_id)
    current = privacy_keys.load(hub.config.data_dir, hub.secrets.secret).current
    assert [privacy_keys.sealed_kid(raw) for raw in after] == [current] * 4
    assert privacy_keys.sealed_kid(before[0]) != current
    with hub.engine.connect() as conn:
        assert addresses(conn, [member_id], ChannelName.EMAIL)[member_id][0] == "qian.yu@example.cn"
        assert conn.execute(sa.select(db.notices.c.body)).scalar_one() == "Dear Qian Yu"


def test_every_sealed_column_outside_members_is_in_the_seal_pass() -> None:
    """privacy_seal.ELSEWHERE names each sealed column's context again: it must say what
    the column's `Sealed` type says, and miss none, or a rotation would leave it behind."""
    typed = {
        (table.name, column.name, column.type.column)
        for table in db.metadata.tables.values()
        if table.name != "members"
        for column in table.columns
        if isinstance(column.type, Sealed)
    }
    listed = {(s.table, c, ctx) for s in privacy_seal.ELSEWHERE for c, ctx in s.columns}
    assert typed == listed and len(typed) >= 4
    for spec in privacy_seal.ELSEWHERE:
        table = db.metadata.tables[spec.table]
        assert isinstance(table.c[spec.range_key].type, sa.Integer)
        assert {c.name for c in table.primary_key} == set(spec.row_keys)
