"""HQ operations on members, cards, devices and the ledger (CLI and dashboard share them).

Every change writes an audit row with its actor. Card lifecycle follows the rules:
a lost card is refused everywhere (deny list), a replacement keeps the member's
accounts (balances and points carry over) and revokes the old card, renewal extends
validity and reactivates the card.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import msgspec
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from hub import db
from hub.ledger import add_to_daily, check_balanced, load_members, write_members
from tapcard.clock import today as clock_today
from tapcard.domain import engine as rules_engine
from tapcard.domain.ledger import Leg, member_account, system_account, validate_legs
from tapcard.domain.model import (
    CARD_STATES_FINAL,
    SYSTEM_ACCOUNT_ASSET,
    Asset,
    CardKind,
    CardState,
    TxKind,
    mask_id_number,
)
from tapcard.domain.rules import RuleSet
from tapcard.errors import ConflictError, NotFoundError, ValidationError
from tapcard.wire.ids import new_tx_id
from tapcard.wire.topics import is_valid_device_id

log = logging.getLogger(__name__)

SEARCH_RESULTS_MAX = 100
DENYLIST_VERSION_KEY = "denylist_version"
CARD_ID_PREFIX = "C"
REASON_LEN_MIN = 3


def now_ms(conn: Connection) -> int:
    """Now, by the clock of the hub that opened `conn`."""
    return db.clock_of(conn).now_ms()


def today_at(conn: Connection) -> dt.date:
    """Today's date by the clock of the hub that opened `conn`."""
    return clock_today(db.clock_of(conn))


def audit(conn: Connection, actor: str, action: str, target: str, detail: Any = "") -> None:
    text = detail if isinstance(detail, str) else msgspec.json.encode(detail).decode()
    conn.execute(
        db.audit.insert().values(
            at_ms=now_ms(conn), actor=actor, action=action, target=target, detail=text
        )
    )


def ensure_system_accounts(conn: Connection) -> None:
    existing = set(conn.execute(sa.select(db.accounts.c.code)).scalars())
    for account, asset in SYSTEM_ACCOUNT_ASSET.items():
        code = system_account(account)
        if code not in existing:
            conn.execute(db.accounts.insert().values(code=code, asset=asset.value, balance=0))


def get_setting(conn: Connection, key: str, default: str = "") -> str:
    value = conn.execute(sa.select(db.settings.c.value).where(db.settings.c.key == key)).scalar()
    return default if value is None else str(value)


def set_setting(conn: Connection, key: str, value: str) -> None:
    updated = conn.execute(
        db.settings.update().where(db.settings.c.key == key).values(value=value)
    ).rowcount
    if not updated:
        conn.execute(db.settings.insert().values(key=key, value=value))


# --- branches and devices -----------------------------------------------------------


def add_branch(conn: Connection, branch_id: str, name: str, chain: str, actor: str) -> None:
    if not is_valid_device_id(branch_id):
        raise ValidationError("a branch id is 1-48 lowercase letters, digits, - or _")
    if conn.execute(sa.select(db.branches.c.id).where(db.branches.c.id == branch_id)).first():
        raise ConflictError(f"branch {branch_id} exists")
    conn.execute(db.branches.insert().values(id=branch_id, name=name, chain=chain))
    audit(conn, actor, "branch.add", branch_id, {"name": name, "chain": chain})


def add_device(
    conn: Connection, device_id: str, branch_id: str, kind: str, public_key: str, actor: str
) -> None:
    if not is_valid_device_id(device_id) or device_id == "hub":
        raise ValidationError("a device id is 1-48 lowercase letters, digits, - or _")
    if kind not in ("kiosk", "terminal"):
        raise ValidationError("device kind is kiosk or terminal")
    if not conn.execute(sa.select(db.branches.c.id).where(db.branches.c.id == branch_id)).first():
        raise NotFoundError(f"branch {branch_id} does not exist")
    if conn.execute(sa.select(db.devices.c.id).where(db.devices.c.id == device_id)).first():
        raise ConflictError(f"device {device_id} exists")
    conn.execute(
        db.devices.insert().values(
            id=device_id,
            branch_id=branch_id,
            kind=kind,
            public_key=public_key,
            state="active",
            created_ms=now_ms(conn),
            online=False,
            status_ms=0,
            last_seen_ms=0,
            health="{}",
            software_version="",
            rules_version=0,
            denylist_version=0,
            seq_max=0,
        )
    )
    audit(conn, actor, "device.add", device_id, {"branch": branch_id, "kind": kind})


def revoke_device(conn: Connection, device_id: str, actor: str) -> None:
    updated = conn.execute(
        db.devices.update().where(db.devices.c.id == device_id).values(state="revoked")
    ).rowcount
    if not updated:
        raise NotFoundError(f"device {device_id} does not exist")
    audit(conn, actor, "device.revoke", device_id)


# --- members ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class NewMember:
    name: str
    phone: str
    id_number: str = ""
    address: str = ""
    birthday: dt.date | None = None
    tags: tuple[str, ...] = ()
    branch_id: str | None = None


def validate_new_member(member: NewMember) -> list[str]:
    errors = []
    if not 1 <= len(member.name.strip()) <= 200:
        errors.append("name is required (at most 200 characters)")
    digits = member.phone.replace("+", "").replace(" ", "").replace("-", "")
    if not (digits.isdigit() and 5 <= len(digits) <= 20):
        errors.append("phone must be 5-20 digits")
    if member.id_number and not 6 <= len(member.id_number.strip()) <= 32:
        errors.append("ID number must be 6-32 characters")
    if any(not 1 <= len(tag) <= 48 for tag in member.tags):
        errors.append("tags are 1-48 characters")
    return errors


def add_member(
    conn: Connection,
    member: NewMember,
    rules: RuleSet,
    id_number_hash: str,
    actor: str,
    today: dt.date | None = None,
) -> int:
    errors = validate_new_member(member)
    if errors:
        raise ValidationError("; ".join(errors))
    today = today or today_at(conn)
    inserted = conn.execute(
        db.members.insert().values(
            name=member.name.strip(),
            phone=member.phone.strip(),
            id_number_masked=mask_id_number(member.id_number) if member.id_number else "",
            id_number_hash=id_number_hash if member.id_number else "",
            address=member.address,
            birthday=member.birthday,
            branch_id=member.branch_id,
            tier=rules.tiers[0].name,
            joined_on=today,
            period_start=today,
            period_growth=0,
            last_activity_on=today,
            state="active",
        )
    ).inserted_primary_key
    assert inserted is not None
    member_id = int(inserted[0])
    for asset in Asset:
        conn.execute(
            db.accounts.insert().values(
                code=member_account(member_id, asset),
                asset=asset.value,
                member_id=member_id,
                balance=0,
            )
        )
    for tag in sorted(set(member.tags)):
        conn.execute(db.member_tags.insert().values(member_id=member_id, tag=tag))
    audit(conn, actor, "member.add", str(member_id), {"phone": member.phone})
    return int(member_id)


def search_members(conn: Connection, text: str) -> list[dict[str, Any]]:
    """By phone (prefix), name (substring), card number (exact) or tag (exact)."""
    text = text.strip()
    if not text:
        raise ValidationError("give a phone, name, card number or tag to search for")
    m = db.members
    by_card = sa.select(db.cards.c.member_id).where(db.cards.c.id == text)
    by_tag = sa.select(db.member_tags.c.member_id).where(db.member_tags.c.tag == text)
    query = (
        sa.select(m.c.id, m.c.name, m.c.phone, m.c.tier, m.c.state)
        .where(
            sa.or_(
                m.c.phone.startswith(text, autoescape=True),
                m.c.name.contains(text, autoescape=True),
                m.c.id.in_(by_card),
                m.c.id.in_(by_tag),
            )
        )
        .order_by(m.c.id)
        .limit(SEARCH_RESULTS_MAX)
    )
    return [dict(row._mapping) for row in conn.execute(query)]


def _require_member(conn: Connection, member_id: int) -> Any:
    """The member's row; an id no column can hold is as unknown as a free one."""
    row = None
    if 1 <= member_id <= db.INT_MAX:
        row = conn.execute(sa.select(db.members).where(db.members.c.id == member_id)).first()
    if row is None:
        raise NotFoundError(f"member {member_id} does not exist")
    return row


def member_view(conn: Connection, member_id: int) -> dict[str, Any]:
    row = _require_member(conn, member_id)
    view = dict(row._mapping)
    view.pop("id_number_hash")
    view["tags"] = sorted(
        conn.execute(
            sa.select(db.member_tags.c.tag).where(db.member_tags.c.member_id == member_id)
        ).scalars()
    )
    balances = conn.execute(
        sa.select(db.accounts.c.asset, db.accounts.c.balance).where(
            db.accounts.c.member_id == member_id
        )
    )
    view["balances"] = {asset: int(balance) for asset, balance in balances}
    cards = conn.execute(sa.select(db.cards).where(db.cards.c.member_id == member_id))
    view["cards"] = [dict(card._mapping) for card in cards]
    return view


def member_history(conn: Connection, member_id: int, limit: int = 50) -> list[dict[str, Any]]:
    t = db.transfers
    query = (
        sa.select(t.c.tx_id, t.c.kind, t.c.card_id, t.c.device_id, t.c.applied_ms, t.c.detail)
        .where(t.c.member_id == member_id)
        .order_by(t.c.applied_ms.desc())
        .limit(limit)
    )
    return [dict(row._mapping) for row in conn.execute(query)]


# --- cards --------------------------------------------------------------------------


def _next_card_id(conn: Connection) -> str:
    number = int(get_setting(conn, "card_seq", "100000")) + 1
    set_setting(conn, "card_seq", str(number))
    return f"{CARD_ID_PREFIX}{number}"


def issue_card(
    conn: Connection,
    member_id: int,
    rules: RuleSet,
    actor: str,
    kind: CardKind = CardKind.MEMBER,
    uid: str = "",
    card_id: str = "",
    daily_cents_max: int | None = None,
    daily_points_max: int | None = None,
    today: dt.date | None = None,
) -> str:
    _require_member(conn, member_id)
    for limit in (daily_cents_max, daily_points_max):
        if limit is not None and not 0 <= limit <= db.INT_MAX:
            raise ValidationError(f"a daily limit is between 0 and {db.INT_MAX}")
    today = today or today_at(conn)
    card_id = card_id or _next_card_id(conn)
    if conn.execute(sa.select(db.cards.c.id).where(db.cards.c.id == card_id)).first():
        raise ConflictError(f"card {card_id} exists")
    conn.execute(
        db.cards.insert().values(
            id=card_id,
            member_id=member_id,
            kind=kind.value,
            state=CardState.ACTIVE.value,
            uid=uid,
            issued_on=today,
            expires_on=rules_engine.card_expires_on(rules, today),
            state_ms=now_ms(conn),
            daily_cents_max=daily_cents_max,
            daily_points_max=daily_points_max,
        )
    )
    audit(conn, actor, "card.issue", card_id, {"member": member_id, "kind": kind.value})
    return card_id


def _card(conn: Connection, card_id: str) -> Any:
    row = conn.execute(sa.select(db.cards).where(db.cards.c.id == card_id)).first()
    if row is None:
        raise NotFoundError(f"card {card_id} does not exist")
    return row


def deny(conn: Connection, card_id: str, reason: str) -> int:
    """Put a card on the deny list and bump its version; returns the new version."""
    conn.execute(db.denylist.insert().values(card_id=card_id, reason=reason, since_ms=now_ms(conn)))
    version = int(get_setting(conn, DENYLIST_VERSION_KEY, "0")) + 1
    set_setting(conn, DENYLIST_VERSION_KEY, str(version))
    return version


def report_lost(conn: Connection, card_id: str, actor: str) -> int:
    """Mark a card lost and put it on the deny list; returns the new deny list version."""
    card = _card(conn, card_id)
    if card.state in {s.value for s in CARD_STATES_FINAL}:
        raise ConflictError(f"card {card_id} is already {card.state}")
    conn.execute(
        db.cards.update()
        .where(db.cards.c.id == card_id)
        .values(state=CardState.LOST.value, state_ms=now_ms(conn))
    )
    audit(conn, actor, "card.lost", card_id)
    return deny(conn, card_id, CardState.LOST.value)


def replace_card(
    conn: Connection,
    old_card_id: str,
    rules: RuleSet,
    actor: str,
    uid: str = "",
    fee_paid_by: str = "cash",
    waive_fee: bool = False,
) -> str:
    """A new card for the same member; the old one is refused everywhere from now on.

    Balances and points live on the member's accounts, so they carry over as they are;
    the replacement fee from the rules is booked as a transfer, unless waived (then the
    transfer books no fee and the waiver is audited).
    """
    old = _card(conn, old_card_id)
    if old.state in (CardState.REPLACED.value, CardState.TERMINATED.value):
        raise ConflictError(f"card {old_card_id} is {old.state} and cannot be replaced")
    new_id = _next_card_id(conn)
    conn.execute(
        db.cards.insert().values(
            id=new_id,
            member_id=old.member_id,
            kind=old.kind,
            state=CardState.ACTIVE.value,
            uid=uid,
            issued_on=today_at(conn),
            expires_on=old.expires_on,
            state_ms=now_ms(conn),
            daily_cents_max=old.daily_cents_max,
            daily_points_max=old.daily_points_max,
        )
    )
    conn.execute(
        db.cards.update()
        .where(db.cards.c.id == old_card_id)
        .values(state=CardState.REPLACED.value, replaced_by=new_id, state_ms=now_ms(conn))
    )
    if old.state != CardState.LOST.value:
        deny(conn, old_card_id, CardState.REPLACED.value)
    fee = rules.fees.replacement_cents
    legs = [] if waive_fee else _fee_legs(int(old.member_id), fee, fee_paid_by)
    detail: dict[str, Any] = {"old_card": old_card_id, "fee_cents": 0 if waive_fee else fee}
    if waive_fee:
        detail["fee_waived_cents"] = fee
        audit(conn, actor, "fee.waive", new_id, {"fee": "replacement", "cents": fee})
    book_admin(
        conn,
        TxKind.REPLACEMENT,
        int(old.member_id),
        legs,
        actor,
        "card replacement",
        card_id=new_id,
        detail=detail,
        rules=rules,
    )
    audit(conn, actor, "card.replace", old_card_id, {"new_card": new_id})
    return new_id


def _fee_legs(member_id: int, amount_cents: int, paid_by: str) -> list[Leg]:
    from tapcard.domain.ledger import fee_legs
    from tapcard.domain.model import Payment

    try:
        payment = Payment(paid_by)
    except ValueError:
        raise ValidationError("a fee is paid by cash or stored_value") from None
    return fee_legs(member_id, amount_cents, payment)


def renew_card(
    conn: Connection,
    card_id: str,
    rules: RuleSet,
    actor: str,
    fee_paid_by: str = "cash",
    waive_fee: bool = False,
) -> dt.date:
    card = _card(conn, card_id)
    if card.state not in (CardState.ACTIVE.value, CardState.EXPIRED.value):
        raise ConflictError(f"card {card_id} is {card.state} and cannot be renewed")
    today = today_at(conn)
    expiry = rules_engine.renewed_expiry(rules, card.expires_on, today)
    conn.execute(
        db.cards.update()
        .where(db.cards.c.id == card_id)
        .values(state=CardState.ACTIVE.value, expires_on=expiry, state_ms=now_ms(conn))
    )
    fee = rules.fees.annual_cents
    legs = [] if waive_fee else _fee_legs(int(card.member_id), fee, fee_paid_by)
    detail: dict[str, Any] = {"expires_on": expiry.isoformat()}
    if waive_fee:
        detail["fee_waived_cents"] = fee
        audit(conn, actor, "fee.waive", card_id, {"fee": "annual", "cents": fee})
    book_admin(
        conn,
        TxKind.RENEWAL,
        int(card.member_id),
        legs,
        actor,
        "renewal",
        card_id=card_id,
        detail=detail,
        rules=rules,
    )
    audit(conn, actor, "card.renew", card_id, {"expires_on": expiry.isoformat()})
    return expiry


def joining_fee(
    conn: Connection,
    member_id: int,
    rules: RuleSet,
    actor: str,
    card_id: str | None = None,
    waive_fee: bool = False,
) -> int:
    """Book the rules' joining fee, paid cash, as a fee transfer; or audit its waiver.
    Returns the cents booked (0 when there is no fee or it was waived)."""
    fee = rules.fees.joining_cents
    if fee <= 0:
        return 0
    if waive_fee:
        audit(conn, actor, "fee.waive", str(member_id), {"fee": "joining", "cents": fee})
        return 0
    book_admin(
        conn,
        TxKind.FEE,
        member_id,
        _fee_legs(member_id, fee, "cash"),
        actor,
        "joining fee",
        card_id=card_id,
        detail={"fee": "joining", "fee_cents": fee},
        rules=rules,
    )
    return fee


# --- ledger operations by HQ ---------------------------------------------------------


def book_admin(
    conn: Connection,
    kind: TxKind,
    member_id: int,
    legs: Sequence[Leg],
    actor: str,
    reason: str,
    *,
    rules: RuleSet,
    card_id: str | None = None,
    detail: dict[str, Any] | None = None,
    allow_negative: bool = False,
) -> str:
    """Book a transfer made at HQ (no device, no sequence number)."""
    errors = validate_legs(legs) if legs else []
    if errors:
        raise ValidationError("; ".join(errors))
    stamp = now_ms(conn)
    tx_id = str(new_tx_id(stamp))
    conn.execute(
        db.transfers.insert().values(
            tx_id=tx_id,
            kind=kind.value,
            device_id=None,
            seq=None,
            card_id=card_id,
            member_id=member_id,
            branch_id=None,
            rules_version=rules.version,
            created_ms=stamp,
            applied_ms=stamp,
            offline=False,
            actor=actor,
            reason=reason,
            detail=msgspec.json.encode(detail or {}).decode(),
        )
    )
    if not legs:
        return tx_id
    conn.execute(
        db.legs.insert(),
        [
            {
                "tx_id": tx_id,
                "account": leg.account,
                "asset": leg.asset.value,
                "debit": leg.debit,
                "credit": leg.credit,
            }
            for leg in legs
        ],
    )
    _move_balances(conn, kind, member_id, legs, card_id, tx_id, allow_negative)
    daily: dict[tuple[int, str, str], tuple[int, int, int]] = {}
    add_to_daily(daily, stamp, None, legs)
    db.add_daily_totals(conn, daily)
    check_balanced(conn, [tx_id])
    return tx_id


def _move_balances(
    conn: Connection,
    kind: TxKind,
    member_id: int,
    legs: Sequence[Leg],
    card_id: str | None,
    tx_id: str,
    allow_negative: bool,
) -> None:
    """Apply the legs to the materialised balances; a balance these legs drive below
    zero is refused, or (when allowed, as for a fraud reversal) recorded for HQ."""
    member = load_members(conn, [member_id], lock=True)[member_id]
    system: Counter[str] = Counter()
    lowered: set[Asset] = set()
    for leg in legs:
        if leg.account.startswith("s:"):
            system[leg.account] += leg.delta
            continue
        assert leg.account.startswith(f"m:{member_id}:"), leg.account
        member.balances[leg.asset] = member.balance(leg.asset) + leg.delta
        if leg.delta < 0:
            lowered.add(leg.asset)
    negative = {a: member.balance(a) for a in lowered if member.balance(a) < 0}
    if negative and not allow_negative:
        raise ConflictError("the member's balance does not cover this")
    for asset, balance in negative.items():  # recorded for HQ, never silent
        conn.execute(
            db.exceptions.insert().values(
                kind=f"{kind.value}_overdraw",
                tx_id=tx_id,
                device_id=None,
                card_id=card_id,
                member_id=member_id,
                asset=asset.value,
                amount=-balance,
                detail=f"{kind.value} left {asset.value} at {balance}",
                created_ms=now_ms(conn),
            )
        )
    member.changed = True
    write_members(conn, [member])
    for code in sorted(system):
        conn.execute(
            db.accounts.update()
            .where(db.accounts.c.code == code)
            .values(balance=db.accounts.c.balance + system[code])
        )


def reverse_points(conn: Connection, tx_id: str, actor: str, reason: str, rules: RuleSet) -> str:
    """Take back the points and growth a transfer earned (fraud), with an audit trail."""
    from tapcard.domain.ledger import reversal_legs

    if len(reason.strip()) < REASON_LEN_MIN:
        raise ValidationError("a reversal needs a reason")
    original = conn.execute(sa.select(db.transfers).where(db.transfers.c.tx_id == tx_id)).first()
    if original is None:
        raise NotFoundError(f"transfer {tx_id} does not exist")
    already = conn.execute(
        sa.select(db.transfers.c.tx_id).where(
            db.transfers.c.kind == TxKind.REVERSAL.value,
            db.transfers.c.detail.contains(tx_id),
        )
    ).first()
    if already is not None:
        raise ConflictError(f"transfer {tx_id} was already reversed by {already[0]}")
    earned = _member_credits(conn, tx_id, int(original.member_id))
    points, growth = earned.get(Asset.POINTS, 0), earned.get(Asset.GROWTH, 0)
    if points == 0 and growth == 0:
        raise ConflictError(f"transfer {tx_id} earned no points")
    legs = reversal_legs(int(original.member_id), points, growth)
    reversal = book_admin(
        conn,
        TxKind.REVERSAL,
        int(original.member_id),
        legs,
        actor,
        reason,
        rules=rules,
        card_id=original.card_id,
        detail={"reverses": tx_id},
        allow_negative=True,
    )
    audit(conn, actor, "ledger.reverse", tx_id, {"reason": reason, "reversal": reversal})
    return reversal


def _member_credits(conn: Connection, tx_id: str, member_id: int) -> dict[Asset, int]:
    rows = conn.execute(
        sa.select(db.legs.c.asset, sa.func.sum(db.legs.c.credit) - sa.func.sum(db.legs.c.debit))
        .where(db.legs.c.tx_id == tx_id, db.legs.c.account.like(f"m:{member_id}:%"))
        .group_by(db.legs.c.asset)
    )
    return {Asset(asset): int(total) for asset, total in rows}


# --- vouchers ------------------------------------------------------------------------


def use_voucher(conn: Connection, code_text: str, actor: str) -> dict[str, Any]:
    """Accept a voucher once (a car park's exit, a wash bay, a counter): it is marked used
    in the same statement that checks it was not, so two places accepting the same code
    at the same moment get one yes and one "already used"."""
    code = rules_engine.parse_voucher_code(code_text)
    if code is None:
        raise ValidationError(f"{code_text.strip()[:40]!r} is not a voucher code")
    v = db.vouchers
    row = conn.execute(sa.select(v).where(v.c.code == code)).first()
    if row is None:
        raise NotFoundError(f"no voucher {code}")
    at_ms = now_ms(conn)
    taken = conn.execute(
        v.update().where(v.c.code == code, v.c.used_ms.is_(None)).values(used_ms=at_ms)
    ).rowcount
    if taken != 1:
        used = conn.execute(sa.select(v.c.used_ms).where(v.c.code == code)).scalar_one()
        when = dt.datetime.fromtimestamp(int(used) / 1000, tz=dt.UTC).strftime("%Y-%m-%d %H:%M")
        raise ConflictError(f"voucher {code} was already used at {when} UTC")
    view = {
        "code": code,
        "item": row.item,
        "units": int(row.units),
        "member_id": int(row.member_id),
        "issued_ms": int(row.issued_ms),
        "used_ms": at_ms,
    }
    audit(conn, actor, "voucher.use", code, {"item": row.item, "units": int(row.units)})
    return view


# --- snapshots for devices -----------------------------------------------------------


def card_snapshot(conn: Connection, card_id: str, rules: RuleSet | None) -> Any:
    """What a device shows for a card: state, masked name, tier, balances, expiry."""
    from tapcard.domain.model import mask_name
    from tapcard.wire.codes import Reason
    from tapcard.wire.messages import Balances, Snapshot

    row = conn.execute(
        sa.select(
            db.cards,
            db.members.c.name,
            db.members.c.tier,
            db.members.c.state.label("m_state"),
            db.members.c.joined_on,
            db.members.c.birthday,
        )
        .join(db.members, db.members.c.id == db.cards.c.member_id)
        .where(db.cards.c.id == card_id)
    ).first()
    if row is None:
        unknown = Reason.UNKNOWN_CARD
        return Snapshot(card_id=card_id, found=False, reason=unknown, as_of_ms=now_ms(conn))
    balances = dict(
        conn.execute(
            sa.select(db.accounts.c.asset, db.accounts.c.balance).where(
                db.accounts.c.member_id == row.member_id
            )
        ).all()
    )
    state = row.state
    if state == CardState.ACTIVE.value and row.expires_on < today_at(conn):
        state = CardState.EXPIRED.value
    if row.m_state == "terminated":
        state = CardState.TERMINATED.value
    growth = int(balances.get(Asset.GROWTH.value, 0))
    upcoming = (
        rules_engine.next_tier(rules, row.tier)
        if rules and row.tier in {t.name for t in rules.tiers}
        else None
    )
    return Snapshot(
        card_id=card_id,
        found=True,
        state=state,
        kind=row.kind,
        member_name_masked=mask_name(row.name)[:64],
        tier=row.tier,
        next_tier=upcoming.name if upcoming else "",
        growth_to_next=max(0, upcoming.growth_points_min - growth) if upcoming else 0,
        balances=Balances(
            points=int(balances.get(Asset.POINTS.value, 0)),
            growth=growth,
            stored_value_cents=int(balances.get(Asset.CENTS.value, 0)),
        ),
        expires_on=row.expires_on,
        as_of_ms=now_ms(conn),
        joined_on=row.joined_on,
        birthday_md=row.birthday.strftime("%m-%d") if row.birthday else "",
    )


def denylist_cards(conn: Connection, today: dt.date | None = None) -> tuple[int, list[str]]:
    """The deny list devices get: denied cards that are still within their validity
    (an expired card is refused for its expiry anyway), at most DENYLIST_CARDS_MAX of
    them, the most recently denied first if there are more."""
    from tapcard.wire.messages import DENYLIST_CARDS_MAX

    version = int(get_setting(conn, DENYLIST_VERSION_KEY, "0"))
    d, c = db.denylist, db.cards
    query = (
        sa.select(d.c.card_id)
        .select_from(d.outerjoin(c, c.c.id == d.c.card_id))
        .where(sa.or_(c.c.expires_on.is_(None), c.c.expires_on >= (today or today_at(conn))))
        .order_by(d.c.since_ms.desc(), d.c.card_id)
        .limit(DENYLIST_CARDS_MAX + 1)
    )
    cards = list(conn.execute(query).scalars())
    if len(cards) > DENYLIST_CARDS_MAX:
        log.error(
            "the deny list holds more than %d valid cards: devices get the newest",
            DENYLIST_CARDS_MAX,
        )
        cards = cards[:DENYLIST_CARDS_MAX]
    return version, sorted(cards)
