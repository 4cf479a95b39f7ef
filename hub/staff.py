"""Staff requests from counter terminals: login, member search, registration with card
issue, lost card and replacement, reversal, renewal with the fee waived, and accepting
a voucher. Each is answered (by the hub's router) on the terminal's
staff-reply topic (MQTT 5 request/response, correlation data echoed) and audited under
the staff id.

Authentication: the request is signed by the device key (the envelope), and the hub
answers staff requests only from devices registered as terminals. A staff member logs
in with a PIN sealed to the hub's key under a one-time challenge, or a staff card
(hub/staff_login.py); the hub answers with a session, and every other request must
carry it: bound to that device and staff id, unexpired (hub/staff_sessions.py). The
staff id must still be active at the terminal's branch, and the operation's role is
checked against both the session's and the staff record's (replacement, reversal,
waived fees and a member's tags are for managers).

Credentials for new cards are signed here, because only the hub holds the issuer key:
the terminal sends the blank chip's UID (and its public key, for smart cards) and
writes the returned credential onto the chip.
"""

from __future__ import annotations

import logging
import time
from typing import Any, Final

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from hub import admin, db, gates, member_qr, refund_view, staff_members, till
from hub import staff_sessions as sessions
from hub.admin.joining import start_join_by_spend
from hub.admin.vouchers import VoucherRefused
from hub.app import Hub
from hub.staff_login import login, refused
from hub.staff_pins import hash_pin, staff_card_id
from tapcard.cards.credential import issue_credential
from tapcard.clock import today as clock_today
from tapcard.domain.model import CARD_ID_RE, Asset, StaffRole, mask_name, mask_phone
from tapcard.domain.vouchers import Place
from tapcard.errors import ConflictError, NotFoundError, TapcardError, ValidationError
from tapcard.wire import staff_messages as sm

log = logging.getLogger(__name__)

ROLES: Final = tuple(StaffRole)
# A member's tags choose whom campaigns reach and what they cost: a manager's call.
MANAGER_ONLY: Final = frozenset({"replace", "reverse", "renew_waived", "member_tag"})


# --- staff accounts (CLI) ----------------------------------------------------------------


def add_staff(
    conn: Connection, staff_id: str, name: str, branch_id: str, role: str, pin: str, actor: str
) -> None:
    if role not in ROLES:
        raise ValidationError(f"role is one of {', '.join(ROLES)}")
    if not 1 <= len(name) <= 64 or not 1 <= len(staff_id) <= 32:
        raise ValidationError("staff id is 1-32 and name 1-64 characters")
    if conn.execute(sa.select(db.staff.c.id).where(db.staff.c.id == staff_id)).first():
        raise ConflictError(f"staff {staff_id} exists")
    if not conn.execute(sa.select(db.branches.c.id).where(db.branches.c.id == branch_id)).first():
        raise NotFoundError(f"branch {branch_id} does not exist")
    conn.execute(
        db.staff.insert().values(
            id=staff_id,
            name=name,
            branch_id=branch_id,
            role=role,
            pin_hash=hash_pin(pin),
            active=True,
            created_ms=db.now_ms(conn),
        )
    )
    admin.audit(conn, actor, "staff.add", staff_id, {"branch": branch_id, "role": role})


def list_staff(conn: Connection) -> list[dict[str, Any]]:
    s = db.staff
    query = sa.select(s.c.id, s.c.name, s.c.branch_id, s.c.role, s.c.active).order_by(s.c.id)
    return [dict(row._mapping) for row in conn.execute(query)]


# --- requests from terminals ----------------------------------------------------------


class StaffRefused(TapcardError):
    def __init__(self, error: str, message: str) -> None:
        super().__init__(message)
        self.error = error


def answer(hub: Hub, request: sm.StaffRequest, branch: str) -> sm.StaffReply:
    """The reply to one staff request from a terminal of `branch` (on the hub's worker
    thread); the caller sends it on the terminal's staff-reply topic."""
    started = time.monotonic()
    reply = handle(hub, request, branch)
    log.info(
        "staff %s %s at %s: %s (%.0f ms)",
        request.staff,
        type(request.op).__name__,
        request.device,
        reply.error or "ok",
        (time.monotonic() - started) * 1000,
    )
    return reply


def handle(hub: Hub, request: sm.StaffRequest, branch: str) -> sm.StaffReply:
    base: dict[str, Any] = {"device": request.device, "staff": request.staff}
    try:
        with hub.writer.begin() as conn:
            fields = _handle(hub, conn, request, branch, hub.clock.now_ms())
        return sm.StaffReply(**base, **fields)
    except StaffRefused as exc:
        return sm.StaffReply(**base, error=exc.error, message=str(exc)[:500])
    except admin.DuplicateMemberError as exc:
        return sm.StaffReply(**base, **staff_members.duplicate(exc))
    except NotFoundError as exc:
        return sm.StaffReply(**base, error="not_found", message=str(exc)[:500])
    except ConflictError as exc:
        return sm.StaffReply(**base, error="conflict", message=str(exc)[:500])
    except ValidationError as exc:
        return sm.StaffReply(**base, error="invalid", message=str(exc)[:500])


def _handle(
    hub: Hub, conn: Connection, request: sm.StaffRequest, branch: str, now_ms: int
) -> dict[str, Any]:
    """The device kind, then a login or the session, then the role, then the work.
    Logins return their refusals (committed: a wrong PIN counts); the rest raise."""
    device = sessions.device_kind_and_branch(conn, request.device)
    if device is not None and device[0] in gates.VOUCHER_DEVICE_KINDS:
        return gates.reply_fields(hub, conn, request)  # a gate or a bay: no staff
    if device is None or device[0] != sessions.TERMINAL_KIND:
        return refused("not_allowed", "staff requests are answered for terminals only")
    op = request.op
    if isinstance(op, sm.LoginChallenge):
        return {"challenge": sessions.issue_challenge(conn, request.device, now_ms)}
    if isinstance(op, sm.StaffLogin | sm.StaffCardLogin):
        return login(hub, conn, request, branch, now_ms)
    session = sessions.live_session(conn, request.device, request.session, now_ms)
    if session is None or session.staff_id != request.staff:
        raise StaffRefused("no_session", "no staff session at this terminal: log in again")
    row = _staff_row(conn, request.staff, branch)
    needs_manager = op.__struct_config__.tag in MANAGER_ONLY or getattr(op, "waive_fee", False)
    if needs_manager and not row.role == session.role == StaffRole.MANAGER:
        raise StaffRefused("not_allowed", "a manager must do this")
    return _dispatch(hub, conn, row, op, request)


def _staff_row(conn: Connection, staff_id: str, branch: str) -> Any:
    row = conn.execute(sa.select(db.staff).where(db.staff.c.id == staff_id)).first()
    if row is None or not row.active or row.branch_id != branch:
        raise StaffRefused("unknown_staff", f"no active staff {staff_id} at branch {branch}")
    return row


def _dispatch(
    hub: Hub, conn: Connection, row: Any, op: sm.AnyStaffOp, request: sm.StaffRequest
) -> dict[str, Any]:
    actor = f"staff:{row.id}@{request.device}"
    rules = hub.rules.latest()
    if isinstance(op, sm.ReversePoints):
        tx_id = _resolve_transfer(conn, op.ref, request.device)
        original = conn.execute(
            sa.select(db.transfers.c.member_id).where(db.transfers.c.tx_id == tx_id)
        ).one()
        points = admin.member_credits(conn, tx_id, int(original.member_id)).get(Asset.POINTS, 0)
        reversal = admin.reverse_points(conn, tx_id, actor, op.reason, rules)
        return {"tx_id": reversal, "points": points}
    if isinstance(op, sm.RenewWaived):
        expiry = admin.renew_card(conn, op.card_id, rules, actor, waive_fee=True)
        return {"card_id": op.card_id, "expires_on": expiry, "fee_waived": True}
    if isinstance(op, sm.MemberSearch):
        return {"members": _search(conn, op.text, row.branch_id)}
    if isinstance(op, sm.MemberCode):  # the member page's QR in place of a tap
        return _member_code(hub, conn, op.qr)
    if isinstance(op, sm.MemberTag):
        return staff_members.member_tag(conn, op, row.branch_id, actor)
    if isinstance(op, sm.ShowProfile | sm.EditMember):
        return staff_members.answer(hub, conn, op, row.branch_id, actor)
    if isinstance(op, sm.UseVoucher):
        used = _use_voucher(conn, op.code, request.device, actor)
        return {
            "voucher": used["code"],
            "item": used["item"],
            "units": used["units"],
            "member_id": used["member_id"],
        }
    if isinstance(op, sm.ReportLost):
        admin.report_lost(conn, op.card_id, actor)
        return {"card_id": op.card_id}
    if isinstance(op, sm.SaleLookup):  # any branch may refund any sale of the chain
        ref = _resolve_transfer(conn, op.ref, request.device) if "/" in op.ref else op.ref
        return {"sale": refund_view.sale_view(conn, ref)}
    if isinstance(op, sm.RefundQuote):  # the dashboard's preview: what booking would do
        ref = _resolve_transfer(conn, op.ref, request.device) if "/" in op.ref else op.ref
        return {"quote": refund_view.quote_view(conn, hub.rules, ref, op.lines, actor)}
    if isinstance(op, sm.CloseShift):  # the till's shift, recorded once (hub/till.py)
        now_ms, zone = hub.clock.now_ms(), rules.time_zone
        till.record_shift(conn, request.device, row.branch_id, op, row.id, now_ms, zone)
        return {"shift_id": op.shift_id}
    if isinstance(op, sm.GateCard):
        raise StaffRefused("not_allowed", "a member's card at a gate is for gates and bays")
    return _issue(hub, conn, row, op, actor)


def _member_code(hub: Hub, conn: Connection, text: str) -> dict[str, Any]:
    """The card a scanned member code names, the code taken once in this request's
    transaction; the terminal then goes on as for a tapped card."""
    try:
        taken = member_qr.redeem(conn, hub.secrets, text, hub.clock.now_ms())
    except member_qr.MemberQrRefused as exc:
        raise StaffRefused(exc.reason, str(exc)) from None
    return {"card_id": taken.card_id, "member_id": taken.member_id}


def _use_voucher(conn: Connection, code: str, device: str, actor: str) -> dict[str, str | int]:
    """At the terminal's own branch and kind, as the registry has them; an expired or
    misplaced voucher is refused with its reason (voucher_expired, voucher_wrong_branch,
    voucher_wrong_device)."""
    kind, branch = sessions.device_kind_and_branch(conn, device) or ("", "")
    try:
        return admin.use_voucher(conn, code, actor, Place(branch=branch, device_kind=kind))
    except VoucherRefused as exc:
        raise StaffRefused(exc.why.value, str(exc)) from None


def _issue(hub: Hub, conn: Connection, row: Any, op: sm.AnyStaffOp, actor: str) -> dict[str, Any]:
    """The operations that put a new credential on a chip: registration, replacement."""
    rules = hub.rules.latest()
    if isinstance(op, sm.RegisterMember):
        new = admin.NewMember(
            name=op.name,
            phone=op.phone,
            id_number=op.id_number,
            birthday=op.birthday,
            branch_id=row.branch_id,
        )
        # Checked, masked and hashed as the CLI's registration does: a repeat ID number
        # is answered duplicate (DuplicateMemberError), naming that member masked.
        id_hash = hub.secrets.id_number_hash(op.id_number) if op.id_number.strip() else ""
        member_id = admin.add_member(conn, new, rules, id_hash, actor)
        card_id = admin.issue_card(conn, member_id, rules, actor, uid=op.uid)
        until = None
        if op.join_by_spend:  # no joining fee: provisional until the threshold is spent
            until = start_join_by_spend(conn, member_id, card_id, rules, actor)
            fee = 0
        else:
            fee = admin.joining_fee(conn, member_id, rules, actor, card_id, op.waive_fee)
        return {
            "member_id": member_id,
            "card_id": card_id,
            "credential": _credential(hub, card_id, op.uid, op.card_key),
            "fee_cents": fee,
            "fee_waived": op.waive_fee and not op.join_by_spend and rules.fees.joining_cents > 0,
            "expires_on": until,
        }
    assert isinstance(op, sm.ReplaceCard)
    card_id = admin.replace_card(
        conn, op.card_id, rules, actor, op.uid, op.payment.value, waive_fee=op.waive_fee
    )
    fee = 0 if op.waive_fee else rules.fees.replacement_cents
    return {
        "card_id": card_id,
        "credential": _credential(hub, card_id, op.uid, op.card_key),
        "fee_cents": fee,
        "fee_waived": op.waive_fee,
    }


def _resolve_transfer(conn: Connection, ref: str, device: str) -> str:
    """A transfer id from a full id, or from `SEQ/PREFIX` as printed on this device's
    receipts (the sequence number found among this device's transfers, the prefix
    matching its id)."""
    ref = ref.strip()
    t = db.transfers
    if "/" not in ref:
        found = conn.execute(sa.select(t.c.tx_id).where(t.c.tx_id == ref)).first()
        if found is None:
            raise NotFoundError(f"transfer {ref} does not exist")
        return str(found.tx_id)
    seq_text, _, prefix = ref.partition("/")
    if not seq_text.isdigit() or len(prefix) < 4:
        raise ValidationError("a receipt reference is SEQ/ID (e.g. 12/1a2b3c4d)")
    row = conn.execute(
        sa.select(t.c.tx_id).where(t.c.device_id == device, t.c.seq == int(seq_text))
    ).first()
    if row is None or not str(row.tx_id).startswith(prefix.lower()):
        raise NotFoundError(f"no transfer {ref} from this terminal")
    return str(row.tx_id)


# --- staff cards ------------------------------------------------------------------------


def staff_card_credential(
    conn: Connection, issuer: Any, staff_id: str, uid: str, card_key: str, actor: str
) -> str:
    """The credential (hex) of a staff card for the chip `uid`, signed with the issuer
    key; the terminal verifies it like a member card and asks the hub (or its cache of an
    earlier online login by the same chip) whether the staff member may log in."""
    row = conn.execute(sa.select(db.staff).where(db.staff.c.id == staff_id)).first()
    if row is None or not row.active:
        raise NotFoundError(f"no active staff {staff_id}")
    card_id = staff_card_id(staff_id)
    if not CARD_ID_RE.match(card_id):
        raise ValidationError(f"staff id {staff_id} cannot be on a card (letters, digits, -)")
    try:
        raw_uid, key = bytes.fromhex(uid), bytes.fromhex(card_key) if card_key else None
    except ValueError:
        raise ValidationError("uid and card key are hex") from None
    credential = issue_credential(issuer, card_id, raw_uid, db.today_at(conn), key).hex()
    admin.audit(conn, actor, "staff.card", staff_id, {"card": card_id, "uid": uid})
    return credential


def _credential(hub: Hub, card_id: str, uid: str, card_key: str) -> str:
    issuer = hub.secrets.issuer_key
    key = bytes.fromhex(card_key) if card_key else None
    today = clock_today(hub.clock)
    return issue_credential(issuer, card_id, bytes.fromhex(uid), today, key).hex()


def _search(conn: Connection, text: str, branch: str) -> list[sm.MemberRow]:
    """Members of the terminal's branch only (the dashboard's rule for a branch user:
    the member's home branch), names and phones masked as the dashboard masks them."""
    rows = admin.search_members(conn, text)
    ids = [int(row["id"]) for row in rows]
    mine = set(
        conn.execute(
            sa.select(db.members.c.id).where(
                db.members.c.id.in_(ids), db.members.c.branch_id == branch
            )
        ).scalars()
    )
    found = []
    for row in [r for r in rows if int(r["id"]) in mine][: sm.STAFF_SEARCH_ROWS_MAX]:
        cards = conn.execute(
            sa.select(db.cards.c.id, db.cards.c.state)
            .where(db.cards.c.member_id == row["id"])
            .order_by(db.cards.c.id)
        ).all()
        found.append(
            sm.MemberRow(
                member_id=int(row["id"]),
                name=mask_name(str(row["name"]))[:200],
                phone=mask_phone(str(row["phone"]))[:64],
                tier=str(row["tier"]),
                state=str(row["state"]),
                cards=[f"{card.id}:{card.state}"[:64] for card in cards][-32:],
            )
        )
    return found
