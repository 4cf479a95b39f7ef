"""Every message type survives encode -> seal -> unseal unchanged, and the bytes on the
wire never drift: for fixed keys and field values the sealed envelopes are stored in
tests/wire/golden/ and compared byte for byte (hex dump on mismatch).

Scenario for the rejections: a receiver gets payloads that are too large, not JSON,
of another protocol version, signed wrongly (bad base64, wrong length, another key,
replayed on another topic) or valid JSON that breaks a message's schema. Each one
is refused with the documented reason code, and no input at all makes `unseal`
raise anything but WireError.
"""

from __future__ import annotations

import base64
import json

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from nacl.signing import SigningKey

from tapcard.domain.engine import SALE_LINES_MAX
from tapcard.wire import messages as m
from tapcard.wire import staff_messages as sm
from tapcard.wire.catalog import MESSAGE_TYPES
from tapcard.wire.codes import Reason
from tapcard.wire.envelope import (
    JSON_DEPTH_MAX,
    SIG_B64_LEN,
    Envelope,
    WireError,
    json_depth,
    open_envelope,
    seal,
    unseal,
)
from tapcard.wire.topics import Family, device_topic
from tests.wire import samples
from tests.wire.samples import (
    DEVICE_ID,
    DEVICE_KEY,
    INTENTS,
    REGENERATE,
    SAMPLES,
    golden_path,
    key_for,
)
from tests.wire.support import byte_mismatch, seal_raw

TX_TOPIC = device_topic(DEVICE_ID, Family.TX)


def refused(payload: bytes, body_type: type[m.Body] = m.TxIntent, topic: str = TX_TOPIC) -> Reason:
    with pytest.raises(WireError) as info:
        unseal(payload, topic, key_for, body_type)
    return info.value.reason


def raw_intent(**changes: object) -> bytes:
    """A purchase intent as plain JSON with some fields replaced, sealed correctly."""
    body = json.loads(msgspec.json.encode(SAMPLES["TxIntent"].body))
    for path, value in changes.items():
        target = body
        *parents, leaf = path.split("__")
        for part in parents:
            target = target[int(part)] if isinstance(target, list) else target[part]
        target[leaf] = value
    return seal_raw(DEVICE_KEY, DEVICE_ID, TX_TOPIC, json.dumps(body).encode())


# --- round trips and golden bytes --------------------------------------------------


def test_every_message_type_has_a_sample() -> None:
    assert set(SAMPLES) == set(MESSAGE_TYPES)
    for name, sample in SAMPLES.items():
        assert type(sample.body) is MESSAGE_TYPES[name]


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_round_trip(name: str) -> None:
    sample = SAMPLES[name]
    signer, body = unseal(sample.sealed(), sample.topic, key_for, MESSAGE_TYPES[name])
    assert signer == sample.signer
    assert body == sample.body


@pytest.mark.parametrize("kind", sorted(INTENTS))
def test_round_trip_of_each_op_kind(kind: str) -> None:
    sample = INTENTS[kind]
    _, body = unseal(sample.sealed(), sample.topic, key_for, m.TxIntent)
    assert body == sample.body
    assert msgspec.json.decode(msgspec.json.encode(body.op), type=m.AnyOp) == body.op


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_golden_bytes(name: str) -> None:
    path = golden_path(name)
    assert path.exists(), f"{path} is missing; write it with `{REGENERATE}`"
    mismatch = byte_mismatch(name, path.read_bytes(), SAMPLES[name].sealed())
    assert mismatch is None, (
        f"{mismatch}\n\nThe wire bytes of {name} changed. If that is an intended protocol "
        f"change, bump the version where needed and rewrite the fixtures: `{REGENERATE}`"
    )


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_golden_bytes_unseal_to_the_sample(name: str) -> None:
    sample = SAMPLES[name]
    payload = golden_path(name).read_bytes()
    _, body = unseal(payload, sample.topic, key_for, MESSAGE_TYPES[name])
    assert body == sample.body


def test_signature_covers_tag_topic_and_body_exactly() -> None:
    sample = SAMPLES["Status"]
    envelope = open_envelope(sample.sealed())
    expected = seal_raw(DEVICE_KEY, DEVICE_ID, sample.topic, envelope.body.encode())
    assert json.loads(expected) == json.loads(sample.sealed())
    assert len(envelope.sig) == SIG_B64_LEN


# --- rejections: size, form, version ---------------------------------------------


def test_oversize_payload_is_refused_before_parsing() -> None:
    payload = b"{" + b" " * m.PAYLOAD_BYTES_MAX + b"}"
    assert refused(payload) == Reason.OVERSIZE


def test_payload_at_the_size_limit_is_parsed() -> None:
    sealed = SAMPLES["Status"].sealed()
    padded = sealed[:-1] + b" " * (m.PAYLOAD_BYTES_MAX - len(sealed)) + b"}"
    assert len(padded) == m.PAYLOAD_BYTES_MAX
    _, body = unseal(padded, SAMPLES["Status"].topic, key_for, m.Status)
    assert body == SAMPLES["Status"].body


@pytest.mark.parametrize(
    "payload",
    [
        b"",
        b"not json",
        b"\xff\xfe\x00",
        b"[1, 2, 3]",
        b'{"v":1,"signer":"kiosk-1","body":"{}"}',  # no sig
        b'{"v":1,"signer":"kiosk-1","body":"{}","sig":"x","extra":1}',
        b'{"v":"1","signer":"kiosk-1","body":"{}","sig":"x"}',
    ],
    ids=["empty", "text", "binary", "array", "missing-sig", "extra-key", "string-version"],
)
def test_not_an_envelope_is_malformed(payload: bytes) -> None:
    assert refused(payload) == Reason.MALFORMED


def test_body_that_is_not_json_is_malformed() -> None:
    assert refused(seal_raw(DEVICE_KEY, DEVICE_ID, TX_TOPIC, b"{not json")) == Reason.MALFORMED


def test_envelope_version_2_is_unsupported() -> None:
    body = msgspec.json.encode(SAMPLES["TxIntent"].body)
    payload = seal_raw(DEVICE_KEY, DEVICE_ID, TX_TOPIC, body, version=2)
    assert refused(payload) == Reason.UNSUPPORTED_VERSION


def test_body_version_2_is_unsupported() -> None:
    body = msgspec.structs.replace(SAMPLES["TxIntent"].body, v=2)
    assert refused(seal(DEVICE_KEY, DEVICE_ID, TX_TOPIC, body)) == Reason.UNSUPPORTED_VERSION


# --- rejections: signatures --------------------------------------------------------


def _with_sig(sig: str) -> bytes:
    envelope = msgspec.json.decode(SAMPLES["TxIntent"].sealed(), type=Envelope)
    return msgspec.json.encode(msgspec.structs.replace(envelope, sig=sig))


@pytest.mark.parametrize(
    "sig",
    [
        "!" * SIG_B64_LEN,  # not base64
        "A" * (SIG_B64_LEN - 4),  # base64 of 63 bytes
        "A" * (SIG_B64_LEN + 4),  # base64 of 66 bytes
        "A" * SIG_B64_LEN,  # right length, unpadded: 66 bytes
        base64.b64encode(bytes(64)).decode(),  # right length, wrong signature
        "",
    ],
    ids=["not-base64", "short", "long", "unpadded", "zeros", "empty"],
)
def test_bad_signature_text_is_refused(sig: str) -> None:
    assert refused(_with_sig(sig)) == Reason.BAD_SIGNATURE


def test_signature_by_another_key_is_refused() -> None:
    impostor = SigningKey(bytes(range(100, 132)))
    payload = seal(impostor, DEVICE_ID, TX_TOPIC, SAMPLES["TxIntent"].body)
    assert refused(payload) == Reason.BAD_SIGNATURE


def test_replay_on_another_topic_is_refused() -> None:
    sealed = SAMPLES["TxIntent"].sealed()
    for topic in (device_topic("kiosk-2", Family.TX), device_topic(DEVICE_ID, Family.HEALTH)):
        assert refused(sealed, topic=topic) == Reason.BAD_SIGNATURE


def test_changed_body_is_refused() -> None:
    envelope = msgspec.json.decode(SAMPLES["TxIntent"].sealed(), type=Envelope)
    forged = envelope.body.replace('"seq":42', '"seq":43')
    assert forged != envelope.body
    payload = msgspec.json.encode(msgspec.structs.replace(envelope, body=forged))
    assert refused(payload) == Reason.BAD_SIGNATURE


def test_unknown_signer_is_refused_by_the_key_lookup() -> None:
    sealed = seal(DEVICE_KEY, "kiosk-9", TX_TOPIC, SAMPLES["TxIntent"].body)
    assert refused(sealed) == Reason.UNKNOWN_DEVICE


# --- rejections: schema ------------------------------------------------------------

TOO_MANY_LINES = [{"category": "grocery", "unit_price_cents": 100}] * (SALE_LINES_MAX + 1)


@pytest.mark.parametrize(
    "changes",
    [
        {"op": {"kind": "topup", "amount_cents": -100}},
        {"op": {"kind": "topup", "amount_cents": 0}},
        {"op": {"kind": "spend", "amount_cents": m.AMOUNT_CENTS_MAX + 1}},
        {"seq": 0},
        {"seq": -1},
        {"created_ms": -1},
        {"surprise": True},
        {"op__surprise": True},
        {"op": {"kind": "steal", "amount_cents": 100}},
        {"op": {"amount_cents": 100}},
        {"card_id": "C" * 33},
        {"card_id": ""},
        {"card_id": "C1/+"},
        {"device": "Kiosk-1"},
        {"tx_id": "not-a-uuid"},
        {"rules_version": 0},
        {"staff": "s" * 65},
        {"op__lines": TOO_MANY_LINES},
        {"op__lines": []},
        {"op__payment": "bitcoin"},
        {"op__lines__0__unit_price_cents": "12.50"},
        {"offline": "yes"},
    ],
    ids=[
        "negative-amount",
        "zero-amount",
        "amount-above-max",
        "seq-0",
        "seq-negative",
        "negative-time",
        "unknown-field",
        "unknown-op-field",
        "unknown-op-kind",
        "op-without-kind",
        "card-id-too-long",
        "card-id-empty",
        "card-id-wildcards",
        "device-uppercase",
        "bad-uuid",
        "rules-version-0",
        "staff-too-long",
        "too-many-lines",
        "no-lines",
        "unknown-payment",
        "price-as-text",
        "offline-as-text",
    ],
)
def test_schema_violations_are_refused(changes: dict[str, object]) -> None:
    assert refused(raw_intent(**changes)) == Reason.SCHEMA


def test_missing_required_field_is_refused() -> None:
    body = json.loads(msgspec.json.encode(SAMPLES["TxIntent"].body))
    del body["card_id"]
    payload = seal_raw(DEVICE_KEY, DEVICE_ID, TX_TOPIC, json.dumps(body).encode())
    assert refused(payload) == Reason.SCHEMA


def test_deny_list_above_its_bound_is_refused() -> None:
    body = json.dumps(
        {"v": 1, "version": 1, "published_ms": 0, "cards": ["C1"] * (m.DENYLIST_CARDS_MAX + 1)}
    ).encode()
    sample = SAMPLES["DenyList"]
    payload = seal_raw(samples.HUB_KEY, sample.signer, sample.topic, body)
    with pytest.raises(WireError) as info:
        unseal(payload, sample.topic, key_for, m.DenyList, size_max=m.RULES_PAYLOAD_BYTES_MAX)
    assert info.value.reason == Reason.SCHEMA


def test_body_for_another_message_type_is_refused() -> None:
    status = SAMPLES["Status"]
    assert refused(status.sealed(), m.TxIntent, status.topic) == Reason.SCHEMA


# --- no input makes unseal raise anything but WireError ------------------------------


def _unseal_any(payload: bytes, body_type: type[m.Body], topic: str = TX_TOPIC) -> None:
    try:
        unseal(payload, topic, key_for, body_type)
    except WireError as exc:
        assert isinstance(exc.reason, Reason)


@settings(max_examples=300, deadline=None)
@given(payload=st.binary(max_size=2048), name=st.sampled_from(sorted(MESSAGE_TYPES)))
def test_random_bytes_raise_only_wire_errors(payload: bytes, name: str) -> None:
    _unseal_any(payload, MESSAGE_TYPES[name])


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=20,
)


def _mutated_intent(draw: st.DrawFn) -> bytes:
    body = json.loads(msgspec.json.encode(SAMPLES["TxIntent"].body))
    key = draw(st.sampled_from([*body, "op", "extra"]))
    if key == "op":
        body["op"][draw(st.sampled_from(["kind", "lines", "payment", "extra"]))] = draw(JSON_VALUES)
    else:
        body[key] = draw(JSON_VALUES)
    return json.dumps(body).encode()


@st.composite
def signed_bodies(draw: st.DrawFn) -> bytes:
    """Correctly signed envelopes whose body is anything: the decoder's turn."""
    choice = draw(st.integers(0, 2))
    if choice == 0:
        body = draw(st.text(max_size=200)).encode("utf-8", "surrogatepass")
    elif choice == 1:
        body = json.dumps(draw(JSON_VALUES)).encode()
    else:
        body = _mutated_intent(draw)
    try:
        body.decode()
    except UnicodeDecodeError:
        body = b"{}"
    return seal_raw(DEVICE_KEY, DEVICE_ID, TX_TOPIC, body)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(payload=signed_bodies(), name=st.sampled_from(sorted(MESSAGE_TYPES)))
def test_signed_random_bodies_raise_only_wire_errors(payload: bytes, name: str) -> None:
    _unseal_any(payload, MESSAGE_TYPES[name])


def test_samples_are_signed_by_their_sender() -> None:
    hub_sent = {name for name, sample in SAMPLES.items() if sample.signer == "hub"}
    assert hub_sent == {
        "TxResults",
        "Snapshot",
        "RulesDoc",
        "DenyList",
        "ProductCatalog",
        "StaffReply",
        "Resend",
        "BayStart",
    }
    for name, sample in SAMPLES.items():
        device = getattr(sample.body, "device", DEVICE_ID)
        assert device == DEVICE_ID, name


@pytest.mark.parametrize("changes", [{"card_id": "C100001\n"}, {"device": "kiosk-1\n"}])
def test_trailing_newline_in_ids_is_refused(changes: dict[str, object]) -> None:
    assert refused(raw_intent(**changes)) == Reason.SCHEMA


class _StaffReplyBeforeVouchers(
    msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True
):
    """StaffReply as terminals before the voucher operation know it (they refuse
    unknown fields)."""

    v: int = 1
    device: str
    staff: str
    error: str = ""
    message: str = ""
    name: str = ""
    role: str = ""
    members: list[sm.MemberRow] = []
    member_id: int = 0
    card_id: str = ""
    credential: str = ""
    fee_cents: int = 0
    fee_waived: bool = False
    tx_id: str = ""
    points: int = 0
    expires_on: str | None = None


def test_older_terminals_still_read_the_replies_they_ask_for() -> None:
    """A hub that knows newer operations answers a login without their fields."""
    login = sm.StaffReply(device="till-1", staff="ann", name="Ann Lee", role="manager")
    old = msgspec.json.decode(msgspec.json.encode(login), type=_StaffReplyBeforeVouchers)
    assert (old.name, old.role, old.error) == ("Ann Lee", "manager", "")
    voucher = sm.StaffReply(device="till-1", staff="ann", voucher="ABCD-EFGH-JKMN", units=2)
    with pytest.raises(msgspec.ValidationError, match="unknown field"):
        msgspec.json.decode(msgspec.json.encode(voucher), type=_StaffReplyBeforeVouchers)


# --- nesting depth: refused before any recursive decode ------------------------------

DEEP_LEVELS = 2_000  # ~10 KB of `{"a":`: enough to exhaust a recursive decoder's stack


def _nested(levels: int, opener: bytes = b'{"a":', closer: bytes = b"}") -> bytes:
    return opener * levels + b"1" + closer * levels


def test_samples_nest_well_within_the_depth_limit() -> None:
    """The limit leaves room: every message type, and the payload around it."""
    for name, sample in SAMPLES.items():
        payload = sample.sealed()
        body = open_envelope(payload).body.encode()
        assert _decoded_depth(json.loads(body)) * 2 <= JSON_DEPTH_MAX, name
        assert json_depth(payload) <= JSON_DEPTH_MAX, name


@pytest.mark.parametrize(
    ("data", "depth"),
    [
        (b"[]", 1),
        (_nested(JSON_DEPTH_MAX + 1), JSON_DEPTH_MAX + 1),
        (_nested(40, b"[", b"]"), 40),
        (b'["' + b"[" * 40 + b'"]', 1),  # brackets in a string do not count
        (b'["\\"' + b"[" * 40 + b'"]', 1),  # nor after an escaped quote
        (b'["\\\\"' + b"[" * 40 + b"]" * 40 + b"]", 41),  # an escaped backslash ends it
        (b"[" * 100_000, 100_000),
        (b"]" * 40 + b"[" * 40, 0),  # a decoder stops at the first `]`: nothing deep
    ],
    ids=lambda value: f"{len(value)}" if isinstance(value, bytes) else None,
)
def test_json_depth_counts_structure_only(data: bytes, depth: int) -> None:
    assert json_depth(data) == depth


def test_json_depth_is_an_upper_bound_below_the_limit() -> None:
    for data in (b"{}", b'{"a":[1,2,{"b":3}]}', b'"[[[["'):
        assert json_depth(data) <= JSON_DEPTH_MAX
        assert json_depth(data) >= _decoded_depth(json.loads(data))


def _decoded_depth(value: object) -> int:
    if isinstance(value, dict):
        return 1 + max((_decoded_depth(v) for v in value.values()), default=0)
    if isinstance(value, list):
        return 1 + max((_decoded_depth(v) for v in value), default=0)
    return 0


@pytest.mark.parametrize(
    "payload",
    [
        _nested(DEEP_LEVELS),
        _nested(DEEP_LEVELS, b"[", b"]"),
        b"[" * 60_000,  # within the size limit, unclosed
        # the deep part where a lenient decoder would skip it: an unknown field
        b'{"v":1,"x":' + _nested(DEEP_LEVELS) + b"}",
    ],
    ids=["objects", "lists", "flat-open", "unknown-field"],
)
def test_deep_envelopes_are_malformed(payload: bytes) -> None:
    assert refused(payload) == Reason.MALFORMED


@pytest.mark.parametrize("name", ["TxIntent", "SnapshotQuery", "StaffRequest", "Health"])
def test_deep_signed_bodies_are_malformed(name: str) -> None:
    """Signed by the real device key: the body's decoder is guarded, too."""
    sample = SAMPLES[name]
    body = b'{"v":1,"x":' + _nested(DEEP_LEVELS) + b"}"
    payload = seal_raw(DEVICE_KEY, DEVICE_ID, sample.topic, body)
    assert refused(payload, MESSAGE_TYPES[name], sample.topic) == Reason.MALFORMED


def test_a_body_at_the_depth_limit_is_decoded_as_far_as_its_schema() -> None:
    """At the limit the decoder runs and judges the schema (no depth refusal)."""
    body = b'{"v":1,"x":' + _nested(JSON_DEPTH_MAX - 1) + b"}"
    assert json_depth(body) == JSON_DEPTH_MAX
    payload = seal_raw(DEVICE_KEY, DEVICE_ID, TX_TOPIC, body)
    assert refused(payload) == Reason.SCHEMA
