"""The hub never crashes on input: hypothesis throws bytes and odd intents at it.

Scenario: first arbitrary payloads (random bytes, JSON-shaped junk, envelopes with
random bodies, JSON nested past the depth limit, bare, in a field or as a signed body)
arrive on device topics and are routed exactly as the MQTT worker routes them; then
properly signed intents with random operations, amounts, cards, rule versions and
duplicates go through the ledger. Nothing raises, every intent gets
exactly one answer, and `verify` proves the journal afterwards.
"""

from __future__ import annotations

import base64
import datetime as dt
import uuid

import msgspec
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hub.broker import PrivateBroker
from hub.ledger import Incoming
from hub.router import Gathered
from hub.service import HubService
from hub.verify import verify_ledger
from tapcard.domain.engine import SaleLine
from tapcard.domain.model import FeeKind, Payment
from tapcard.mqtt import Event, EventKind
from tapcard.wire import messages as m
from tapcard.wire.envelope import JSON_DEPTH_MAX
from tapcard.wire.topics import Family, device_topic
from tests.conftest import Seeded
from tests.hub.support import Device
from tests.wire.support import seal_raw

FUZZ = settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

topics = st.sampled_from(
    [device_topic("kiosk-1", f) for f in Family]
    + [device_topic("ghost", Family.TX), "tapcard/v1/dev/kiosk-1", "tapcard/v1/dev/+/tx", "x"]
)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)


def envelope_with(body: object) -> bytes:
    sig = base64.b64encode(bytes(64)).decode()
    return msgspec.json.encode(
        {"v": 1, "signer": "kiosk-1", "body": msgspec.json.encode(body).decode(), "sig": sig}
    )


payloads = st.one_of(
    st.binary(max_size=300),
    json_values.map(msgspec.json.encode),
    json_values.map(envelope_with),
)


@FUZZ
@given(topic=topics, payload=payloads)
def test_routing_arbitrary_payloads_never_raises(
    seeded_sqlite: Seeded, broker: PrivateBroker, topic: str, payload: bytes
) -> None:
    service = _service(seeded_sqlite, broker)
    gathered = Gathered()
    service.router.route(Event(EventKind.MESSAGE, topic, payload, mid=1, qos=1), gathered)
    assert gathered == Gathered()  # nothing unsigned gets through to the ledger or registry


@FUZZ
@given(
    family=st.sampled_from(list(Family)),
    levels=st.integers(JSON_DEPTH_MAX + 1, 3_000),
    shape=st.sampled_from([(b'{"a":', b"}"), (b"[", b"]"), (b'{"a":[', b"]}")]),
    where=st.sampled_from(["bare", "unknown-field", "signed-body"]),
)
def test_routing_deep_payloads_refuses_and_counts_them(
    seeded_sqlite: Seeded,
    broker: PrivateBroker,
    family: Family,
    levels: int,
    shape: tuple[bytes, bytes],
    where: str,
) -> None:
    """Nested past the limit, anywhere (even signed by the real device key): refused as
    MALFORMED and counted, never a RecursionError."""
    service = _service(seeded_sqlite, broker)
    opener, closer = shape
    deep = opener * levels + b"1" + closer * levels
    topic = device_topic(seeded_sqlite.device_id, family)
    payload = {
        "bare": deep,
        "unknown-field": b'{"v":1,"x":' + deep + b"}",
        "signed-body": seal_raw(seeded_sqlite.device_key, seeded_sqlite.device_id, topic, deep),
    }[where]
    before = service.counters["rejected.malformed"]
    gathered = Gathered()
    service.router.route(Event(EventKind.MESSAGE, topic, payload, mid=1, qos=1), gathered)
    assert gathered == Gathered()
    assert service.counters["rejected.malformed"] == before + 1


_services: dict[int, HubService] = {}


def _service(seeded: Seeded, broker: PrivateBroker) -> HubService:
    """One unstarted service per hub: routing and refusing need no network thread."""
    key = id(seeded)
    if key not in _services:
        _services.clear()
        _services[key] = HubService(seeded.hub, broker.hub_address)
    return _services[key]


lines = st.lists(
    st.builds(
        SaleLine,
        category=st.sampled_from(["grocery", "fuel", "group_buy", "special_offer", "x"]),
        unit_price_cents=st.integers(0, 200_000),
        quantity=st.integers(1, 5),
        sku=st.sampled_from(["", "rice-5kg", "oil-1l"]),
    ),
    min_size=1,
    max_size=4,
)
ops = st.one_of(
    st.builds(m.Purchase, lines=lines, payment=st.sampled_from(list(Payment))),
    st.builds(m.TopUp, amount_cents=st.integers(1, 100_000)),
    st.builds(m.Spend, amount_cents=st.integers(1, 100_000)),
    st.builds(
        m.Redeem,
        item=st.sampled_from(["PARK-HOUR", "WASH-STANDARD", "PRIZE-MUG", "nope"]),
        units=st.integers(1, 20),
    ),
    st.builds(
        m.Backfill,
        receipt_no=st.sampled_from(["R1", "R2", "R3"]),
        receipt_on=st.dates(dt.date(2026, 1, 1), dt.date(2027, 1, 1)),
        lines=lines,
    ),
    st.builds(m.Fee, fee=st.sampled_from(list(FeeKind)), payment=st.sampled_from(list(Payment))),
    st.builds(m.Renewal, payment=st.sampled_from(list(Payment))),
)


@FUZZ
@given(
    steps=st.lists(
        st.tuples(
            ops,
            st.sampled_from(["C100001", "C100002", "C999"]),
            st.booleans(),
            st.sampled_from([1, 1, 1, 7]),
            st.booleans(),
        ),
        min_size=1,
        max_size=12,
    )
)
def test_random_signed_intents_never_break_the_ledger(
    seeded_sqlite: Seeded, steps: list[tuple[m.AnyOp, str, bool, int, bool]]
) -> None:
    device = _device_for(seeded_sqlite)
    batch: list[Incoming] = []
    for op, card, offline, rules_version, duplicate in steps:
        incoming = device.incoming(card, op, offline=offline, rules_version=rules_version)
        batch.append(incoming)
        if duplicate:
            batch.append(incoming)
    results = seeded_sqlite.hub.ledger.apply_batch(batch)
    assert len(results) == len(batch)
    assert all(isinstance(r.tx_id, uuid.UUID) for r in results)
    with seeded_sqlite.hub.engine.connect() as conn:
        report = verify_ledger(conn)
    assert report.errors == []


_devices: dict[int, Device] = {}


def _device_for(seeded: Seeded) -> Device:
    key = id(seeded)
    if key not in _devices:
        _devices.clear()
        _devices[key] = Device(seeded.device_id, seeded.device_key)
    return _devices[key]
