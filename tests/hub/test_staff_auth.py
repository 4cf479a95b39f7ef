"""Staff identity at the hub, against a real hub and mosquitto.

Scenario: a kiosk sends `StaffRequest(staff="boss", op=RenewWaived(...))` and is refused;
so is a terminal that never logged in, or sends a forged, an expired, another terminal's
or another staff member's session. A cashier's session may not waive a fee; a
manager's may. Forty wrong PINs lock the staff member after five, the right PIN is then
refused too, and a locked try costs the ingest thread a fraction of one scrypt check;
twenty wrong PINs under made-up staff ids lock the device. A sniffer on `dev/+/staff`
sees no PIN, and replaying the login it captured gets no session. A shop-1 terminal's
member search finds shop-1 members only, masked; shop-2's finds shop-2's. Intents carry
the session; the hub books the staff id only for a session of that terminal, or for an
offline login by staff active at its branch.
"""

from __future__ import annotations

import datetime as dt
import json
import secrets
import statistics
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import msgspec
import pytest
import sqlalchemy as sa
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from hub import admin, db, staff, staff_sessions
from hub.ledger import Incoming, body_digest
from hub.staff import add_staff
from hub.staff_pins import check_pin
from hub.staff_sessions import StaffCheck, intent_staff, verified_staff
from hub.web import alerts
from hub.web.settings import WebSettings
from tapcard.device.bundle import Bundle
from tapcard.device.intents import StaffBadge, seal_intent
from tapcard.device.runtime import DeviceRuntime
from tapcard.domain.model import StaffRole
from tapcard.wire import messages as m
from tapcard.wire import staff_messages as sm
from tapcard.wire.codes import Reason
from tapcard.wire.envelope import open_envelope
from tapcard.wire.keys import new_signing_key, seal_pin, signing_key_text, verify_key_text
from tapcard.wire.topics import Family, device_topic
from terminal.staff_link import StaffLink
from tests.conftest import Seeded
from tests.device.conftest import Rig, fast_link, rig  # noqa: F401
from tests.hub.test_ingest import Listener

PIN = "2468"
WRONG = "1357"
WAIT_S = 10.0
Links = Callable[..., StaffLink]


@pytest.fixture
def links(rig: Rig) -> Iterator[Links]:  # noqa: F811
    """`links(device_id, kind="terminal", branch="shop-1")`: a device registered at the
    hub and its started staff link; staff ann (manager) and bob (cashier) at shop-1, cat
    (manager) at shop-2."""
    hub = rig.seeded.hub
    with hub.transaction() as conn:
        admin.add_branch(conn, "shop-2", "Shop two", "chain", "test")
        add_staff(conn, "ann", "Ann Lee", "shop-1", "manager", PIN, "test")
        add_staff(conn, "bob", "Bob Wu", "shop-1", "cashier", PIN, "test")
        add_staff(conn, "cat", "Cat Ma", "shop-2", "manager", PIN, "test")
    started: list[StaffLink] = []

    def make(device_id: str, kind: str = "terminal", branch: str = "shop-1") -> StaffLink:
        key = new_signing_key()
        with hub.transaction() as conn:
            admin.add_device(conn, device_id, branch, kind, verify_key_text(key.verify_key), "t")
        bundle = {
            "device_id": device_id,
            "branch_id": branch,
            "kind": kind,
            "device_key": signing_key_text(key),
            "hub_public_key": verify_key_text(hub.secrets.hub_key.verify_key),
            "issuer_public_key": verify_key_text(hub.secrets.issuer_key.verify_key),
            "broker": f"{rig.broker.host}:{rig.broker.port}",
        }
        rig.bundles[device_id] = json.dumps(bundle).encode()
        link = StaffLink(Bundle.parse(rig.bundles[device_id]))
        link.start()
        started.append(link)
        assert link.connected.wait(WAIT_S)
        return link

    yield make
    for link in started:
        link.stop()


def ask(link: StaffLink, staff_id: str, op: sm.AnyStaffOp, session: str = "") -> sm.StaffReply:
    reply = link.request(staff_id, op, WAIT_S, session)
    assert reply is not None, "the hub did not answer"
    return reply


def sealed_login(link: StaffLink, staff_id: str, pin: str) -> sm.StaffLogin:
    challenge = ask(link, staff_id, sm.LoginChallenge()).challenge
    assert len(challenge) == 32
    seal = sm.PinSeal(pin=pin, challenge=challenge, device=link.bundle.device_id, staff=staff_id)
    return sm.StaffLogin(sealed_pin=seal_pin(link.bundle.hub_key, seal))


def log_in(link: StaffLink, staff_id: str, pin: str = PIN) -> sm.StaffReply:
    return ask(link, staff_id, sealed_login(link, staff_id, pin))


def expiry(rig: Rig, card_id: str) -> dt.date:  # noqa: F811
    with rig.seeded.hub.engine.connect() as conn:
        query = sa.select(db.cards.c.expires_on).where(db.cards.c.id == card_id)
        return dt.date.fromisoformat(str(conn.execute(query).scalar_one()))


def audits(rig: Rig, action: str) -> int:  # noqa: F811
    return rig.count(db.audit, action=action)


# --- who may ask --------------------------------------------------------------------------


def test_a_kiosk_gets_no_staff_answers(rig: Rig, links: Links) -> None:  # noqa: F811
    kiosk = links("kiosk-7", kind="kiosk")
    card = rig.seeded.cards[0]
    before = expiry(rig, card)
    for op in (sm.RenewWaived(card_id=card), sm.LoginChallenge(), sm.MemberSearch(text="138")):
        reply = ask(kiosk, "boss", op)
        assert reply.error == "not_allowed" and not reply.members and not reply.challenge
    assert ask(kiosk, "ann", sm.StaffLogin(pin=PIN)).error == "not_allowed"
    assert expiry(rig, card) == before
    assert rig.count(db.staff_sessions) == rig.count(db.staff_challenges) == 0


def test_no_session_forged_and_foreign_sessions_are_refused(
    rig: Rig,  # noqa: F811
    links: Links,
) -> None:
    till, other = links("till-1"), links("till-3")
    card = rig.seeded.cards[0]
    before = expiry(rig, card)
    renew = sm.RenewWaived(card_id=card)
    ann = log_in(till, "ann")
    assert ann.error == "" and ann.role == "manager" and len(ann.session) == 32
    bob = log_in(till, "bob")
    forged = secrets.token_urlsafe(24)
    for staff_id, session, link in (
        ("boss", "", till),  # the issue's request, from a terminal
        ("ann", "", till),
        ("ann", forged, till),
        ("ann", ann.session, other),  # another terminal's
        ("bob", ann.session, till),  # another staff member's
        ("ann", bob.session, till),
    ):
        assert ask(link, staff_id, renew, session).error == "no_session", (staff_id, link)
    assert expiry(rig, card) == before


def test_an_expired_session_is_refused(
    rig: Rig,  # noqa: F811
    links: Links,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(staff_sessions, "SESSION_S", 1)
    till = links("till-1")
    session = log_in(till, "ann").session
    assert ask(till, "ann", sm.MemberSearch(text="138"), session).error == ""
    time.sleep(1.2)
    assert ask(till, "ann", sm.MemberSearch(text="138"), session).error == "no_session"


def test_a_cashier_session_may_not_waive_a_fee_a_managers_may(
    rig: Rig,  # noqa: F811
    links: Links,
) -> None:
    till = links("till-1")
    card = rig.seeded.cards[0]
    before = expiry(rig, card)
    bob = log_in(till, "bob")
    assert bob.role == "cashier"
    assert ask(till, "bob", sm.RenewWaived(card_id=card), bob.session).error == "not_allowed"
    assert expiry(rig, card) == before
    ann = log_in(till, "ann")
    done = ask(till, "ann", sm.RenewWaived(card_id=card), ann.session)
    assert done.error == "" and done.fee_waived and done.expires_on is not None
    assert expiry(rig, card) == done.expires_on > before


# --- PIN tries ----------------------------------------------------------------------------


def test_forty_wrong_pins_lock_and_the_right_pin_is_refused_fast(
    rig: Rig,  # noqa: F811
    links: Links,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    till = links("till-1")
    errors = [log_in(till, "ann", WRONG).error for _ in range(40)]
    limit = staff_sessions.PIN_TRIES_MAX
    assert errors == ["bad_pin"] * (limit - 1) + ["locked"] * (41 - limit)
    refused = log_in(till, "ann")
    assert refused.error == "locked" and not refused.session
    assert audits(rig, "staff.login_failed") == limit  # the locked tries checked nothing
    assert audits(rig, "staff.pin_locked") == 1
    with rig.seeded.hub.engine.connect() as conn:
        lockouts = staff_sessions.pin_lockouts(conn, rig.seeded.hub.clock.now_ms())
        shown = alerts.compute(conn, WebSettings(), {}, [])
    assert [(lock.kind, lock.subject) for lock in lockouts] == [("staff", "ann")]
    assert [(a.kind, a.subject, a.branch) for a in shown] == [("pin_lock", "staff ann", "shop-1")]
    assert log_in(till, "bob").error == ""  # one staff member's lock, not the device's

    locked_ms, scrypt_ms = _locked_and_scrypt_ms(rig, till)
    assert locked_ms < scrypt_ms / 3, (locked_ms, scrypt_ms)

    monkeypatch.setattr(staff_sessions, "PIN_LOCKOUT_S", 1)
    time.sleep(1.1)
    assert log_in(till, "ann").error == ""  # and the count starts again
    assert log_in(till, "ann", WRONG).error == "bad_pin"


def _locked_and_scrypt_ms(rig: Rig, till: StaffLink) -> tuple[float, float]:  # noqa: F811
    """Median ms of a locked login on the ingest path, and of one PIN check."""
    hub = rig.seeded.hub
    login = sealed_login(till, "ann", PIN)
    request = sm.StaffRequest(device=till.bundle.device_id, staff="ann", op=login)
    with hub.engine.connect() as conn:
        stored = conn.execute(sa.select(db.staff.c.pin_hash).where(db.staff.c.id == "ann"))
        pin_hash = str(stored.scalar_one())
    locked, hashed = [], []
    for _ in range(5):
        started = time.perf_counter()
        assert staff.handle(hub, request, "shop-1").error == "locked"
        locked.append((time.perf_counter() - started) * 1000)
        started = time.perf_counter()
        assert check_pin(PIN, pin_hash)
        hashed.append((time.perf_counter() - started) * 1000)
    return statistics.median(locked), statistics.median(hashed)


def test_wrong_pins_under_many_staff_ids_lock_the_device(
    rig: Rig,  # noqa: F811
    links: Links,
) -> None:
    till, other = links("till-1"), links("till-3")
    for index in range(staff_sessions.DEVICE_PIN_TRIES_MAX):
        assert log_in(till, f"guess{index}", WRONG).error in ("bad_pin", "locked")
    assert log_in(till, "ann").error == "locked"
    assert log_in(other, "ann").error == ""
    with rig.seeded.hub.engine.connect() as conn:
        lockouts = staff_sessions.pin_lockouts(conn, rig.seeded.hub.clock.now_ms())
    assert ("device", "till-1") in [(lock.kind, lock.subject) for lock in lockouts]


def test_a_clear_pin_from_an_older_terminal_is_refused_unchecked(
    rig: Rig,  # noqa: F811
    links: Links,
) -> None:
    till = links("till-1")
    reply = ask(till, "ann", sm.StaffLogin(pin=PIN))
    assert reply.error == "invalid" and not reply.session
    assert audits(rig, "staff.login") == 0


# --- the wire -----------------------------------------------------------------------------


def test_a_sniffed_login_shows_no_pin_and_replayed_gets_no_session(
    rig: Rig,  # noqa: F811
    links: Links,
) -> None:
    till = links("till-1")
    staff_topic = device_topic("till-1", Family.STAFF)
    reply_topic = device_topic("till-1", Family.STAFF_REPLY)
    sniffer = Listener(rig.broker, ["tapcard/v1/dev/+/staff", reply_topic])
    try:
        assert log_in(till, "ann").error == ""
        captured = sniffer.wait_for(lambda msg: b"sealed_pin" in msg.payload)
        payload = bytes(captured.payload)
        assert PIN.encode() not in payload and b'\\"pin\\":\\"' + PIN.encode() not in payload
        for attempt in (b"replay-1", b"replay-2"):
            props = Properties(PacketTypes.PUBLISH)
            props.ResponseTopic = reply_topic
            props.CorrelationData = attempt
            sniffer.client.publish(staff_topic, payload, qos=1, properties=props)
            answer = sniffer.wait_for(
                lambda msg, c=attempt: (
                    msg.topic == reply_topic and msg.properties.CorrelationData == c
                )
            )
            body = msgspec.json.decode(
                open_envelope(bytes(answer.payload)).body, type=sm.StaffReply
            )
            assert body.error == "invalid" and not body.session
    finally:
        sniffer.close()
    assert rig.count(db.staff_sessions) == 1
    assert audits(rig, "staff.login_replayed") == 2


def test_member_search_sees_its_branch_only_masked(
    rig: Rig,  # noqa: F811
    links: Links,
) -> None:
    hub = rig.seeded.hub
    with hub.transaction() as conn:
        new = admin.NewMember(name="Zhao Lei", phone="13800000077", branch_id="shop-2")
        far = admin.add_member(conn, new, hub.rules.latest(), "", "test")
    shop1, shop2 = links("till-1"), links("till-9", branch="shop-2")
    ann, cat = log_in(shop1, "ann"), log_in(shop2, "cat")
    elsewhere = log_in(shop2, "ann")  # ann works at shop-1: a wrong try, like a wrong PIN
    assert elsewhere.error == "bad_pin" and not elsewhere.session

    # Phones and names are sealed at rest: a search matches the whole phone or name.
    def search(link: Any, staff: str, text: str, session: str) -> list[tuple[int, str, str]]:
        rows = ask(link, staff, sm.MemberSearch(text=text), session).members
        return [(row.member_id, row.name, row.phone) for row in rows]

    first, second = sorted(rig.seeded.members)
    assert search(shop1, "ann", "13800000001", ann.session) == [(first, "L****i", "*******0001")]
    assert search(shop1, "ann", "Ana Silva", ann.session) == [(second, "A*******a", "*******0002")]
    assert search(shop1, "ann", "13800000077", ann.session) == []  # shop-2's member
    assert search(shop2, "cat", "13800000077", cat.session) == [(far, "Z******i", "*******0077")]
    assert search(shop2, "cat", "13800000001", cat.session) == []  # shop-1's member
    assert ask(shop1, "ann", sm.MemberSearch(text="Zhao Lei"), ann.session).members == []


# --- intents --------------------------------------------------------------------------


def test_intents_carry_the_session_and_the_hub_books_only_verified_staff(
    rig: Rig,  # noqa: F811
    links: Links,
) -> None:
    till = links("till-1")
    links("kiosk-7", kind="kiosk")
    ann = log_in(till, "ann")
    runtime = rig.device("till-1")
    sniffer = Listener(rig.broker, [device_topic("till-1", Family.TX)])
    try:
        runtime.set_staff(StaffBadge("ann", ann.session))
        assert runtime.top_up(rig.seeded.cards[0], 1_000, staff="ann").accepted
        sent = sniffer.wait_for(lambda msg: True)
    finally:
        sniffer.close()
    intent = msgspec.json.decode(open_envelope(bytes(sent.payload)).body, type=m.TxIntent)
    assert (intent.staff, intent.staff_session, intent.staff_offline) == ("ann", ann.session, False)
    now = rig.seeded.hub.clock.now_ms()
    with rig.seeded.hub.engine.connect() as conn:
        assert intent_staff(conn, "till-1", intent, now) == StaffCheck("ann")
        for device_id, changes, reason in _claims(ann.session):
            got = intent_staff(conn, device_id, msgspec.structs.replace(intent, **changes), now)
            assert (got.staff_id, got.reason) == ("", reason), (device_id, changes)
        grace_ms = staff_sessions.SESSION_INTENT_GRACE_S * 1000
        assert verified_staff(conn, "till-1", ann.session, ann.session_expires_ms) == "ann"
        assert (
            verified_staff(conn, "till-1", ann.session, ann.session_expires_ms + grace_ms) is None
        )


def _booked_actor(rig: Rig, tx_id: object) -> str | None:  # noqa: F811
    t = db.transfers
    with rig.seeded.hub.engine.connect() as conn:
        row = conn.execute(sa.select(t.c.actor).where(t.c.tx_id == str(tx_id))).first()
    return None if row is None else str(row.actor)


def test_the_ledger_books_the_verified_staff_and_refuses_a_free_text_claim(
    rig: Rig,  # noqa: F811
    links: Links,
) -> None:
    """Through the ledger: a sale under ann's session is booked as ann's; an online
    intent that names "boss" with no session is refused and books nothing; an offline
    one (goods handed over) is booked with no staff credit and an exception for HQ."""
    till = links("till-1")
    ann = log_in(till, "ann")
    runtime = rig.device("till-1")
    card = rig.seeded.cards[0]
    runtime.set_staff(StaffBadge("ann", ann.session))
    good = runtime.top_up(card, 1_000, staff="ann")
    assert good.tx_id is not None
    result = runtime.wait_result(good.tx_id, 10)
    assert result is not None and result.accepted
    assert _booked_actor(rig, good.tx_id) == "ann"

    runtime.set_staff(None)
    claimed = runtime.top_up(card, 1_000, staff="boss")
    assert claimed.tx_id is not None
    refused = runtime.wait_result(claimed.tx_id, 10)
    assert refused is not None and refused.reason == Reason.STAFF_UNVERIFIED
    assert _booked_actor(rig, claimed.tx_id) is None

    offline = rig.seeded.hub.ledger.apply_batch([_offline_claim(rig, runtime, card)])[0]
    assert offline.accepted
    assert _booked_actor(rig, offline.tx_id) == ""
    e = db.exceptions
    with rig.seeded.hub.engine.connect() as conn:
        kinds = conn.execute(sa.select(e.c.kind).where(e.c.kind == "staff_unverified")).all()
    assert len(kinds) == 1


def _offline_claim(rig: Rig, runtime: DeviceRuntime, card: str) -> Incoming:  # noqa: F811
    """An offline top-up from till-1 naming "boss" with neither a session nor an
    offline login, as its envelope would reach the ledger."""
    intent = m.TxIntent(
        tx_id=uuid.uuid4(),
        device="till-1",
        seq=runtime.store.seq() + 1,
        created_ms=rig.seeded.hub.clock.now_ms(),
        card_id=card,
        rules_version=1,
        offline=True,
        staff="boss",
        op=m.TopUp(amount_cents=500),
    )
    body = msgspec.json.encode(intent)
    return Incoming(device_id="till-1", intent=intent, digest=body_digest(body))


def _claims(session: str) -> list[tuple[str, dict[str, object], Reason]]:
    forged = secrets.token_urlsafe(24)
    return [
        ("till-1", {"staff_session": forged}, Reason.STAFF_UNVERIFIED),
        ("till-1", {"staff": "bob"}, Reason.STAFF_UNVERIFIED),  # ann's session
        ("till-1", {"staff_session": ""}, Reason.STAFF_UNVERIFIED),  # free text
        ("kiosk-7", {}, Reason.STAFF_NOT_ALLOWED),  # kiosk-7 holds no session either
        ("kiosk-7", {"staff_session": "", "staff_offline": True}, Reason.STAFF_NOT_ALLOWED),
        (
            "till-1",
            {"staff": "cat", "staff_session": "", "staff_offline": True},
            Reason.STAFF_NOT_ALLOWED,
        ),
        (
            "till-1",
            {"staff": "zed", "staff_session": "", "staff_offline": True},
            Reason.STAFF_NOT_ALLOWED,
        ),
    ]


def test_offline_logins_are_booked_for_active_staff_of_the_branch(
    rig: Rig,  # noqa: F811
    links: Links,
) -> None:
    links("till-1")
    key = new_signing_key()
    badge = StaffBadge("bob", offline=True)
    sealed = seal_intent(
        key, "till-1", 1, rig.seeded.cards[0], m.TopUp(amount_cents=500), 1, staff=badge
    )
    intent = sealed.intent
    assert (intent.staff, intent.staff_session, intent.staff_offline) == ("bob", "", True)
    hub = rig.seeded.hub
    with hub.engine.connect() as conn:
        assert intent_staff(conn, "till-1", intent, hub.clock.now_ms()) == StaffCheck("bob")
        kiosk_like = msgspec.structs.replace(intent, staff="", staff_offline=False)
        assert intent_staff(conn, "till-1", kiosk_like, hub.clock.now_ms()) == StaffCheck("")
    with hub.transaction() as conn:
        conn.execute(db.staff.update().where(db.staff.c.id == "bob").values(active=False))
    with hub.engine.connect() as conn:
        got = intent_staff(conn, "till-1", intent, hub.clock.now_ms())
    assert got.reason == Reason.STAFF_NOT_ALLOWED and got.staff_id == ""


def test_the_session_store_on_both_databases(seeded: Seeded) -> None:
    """The same rules through the functions alone, on SQLite and PostgreSQL."""
    hub = seeded.hub
    now = hub.clock.now_ms()
    with hub.transaction() as conn:
        add_staff(conn, "ann", "Ann Lee", "shop-1", "manager", PIN, "test")
        challenges = [staff_sessions.issue_challenge(conn, "kiosk-1", now + i) for i in range(12)]
        assert conn.execute(
            sa.select(sa.func.count()).select_from(db.staff_challenges)
        ).scalar() == (staff_sessions.CHALLENGES_PER_DEVICE_MAX)
        assert not staff_sessions.take_challenge(conn, "kiosk-1", challenges[0], now)  # dropped
        assert not staff_sessions.take_challenge(conn, "other", challenges[-1], now)
        assert staff_sessions.take_challenge(conn, "kiosk-1", challenges[-1], now)
        assert not staff_sessions.take_challenge(conn, "kiosk-1", challenges[-1], now)  # once
        late = now + 10 + staff_sessions.CHALLENGE_S * 1000
        assert not staff_sessions.take_challenge(conn, "kiosk-1", challenges[-2], late)
        token, ends = staff_sessions.open_session(conn, "ann", "kiosk-1", StaffRole.MANAGER, now)
        assert staff_sessions.live_session(conn, "kiosk-1", token, now) is not None
        assert staff_sessions.live_session(conn, "kiosk-1", token, ends) is None
        assert staff_sessions.verified_staff(conn, "kiosk-1", token, ends) == "ann"
        for index in range(staff_sessions.PIN_TRIES_MAX):
            locked = staff_sessions.record_pin_failure(conn, "ann", "kiosk-1", now + index)
        assert locked == now + index + staff_sessions.PIN_LOCKOUT_S * 1000
        assert staff_sessions.pin_locked_until(conn, "ann", "kiosk-1", now + index) == locked
        assert staff_sessions.pin_locked_until(conn, "ann", "kiosk-1", locked) == 0
        staff_sessions.clear_pin_failures(conn, "ann")
        assert staff_sessions.pin_lockouts(conn, now + index) == []
