"""Signed envelopes: every message on the wire is signed by whoever sent it.

Payload: `{"v":1,"signer":"<device id or hub>","body":"<JSON text>","sig":"<base64>"}`.
The Ed25519 signature covers a domain tag, the topic and the exact body bytes, so a
signed message cannot be replayed on another topic, and the body is decoded only
after the signature holds.
"""

from __future__ import annotations

import base64
import binascii
import itertools
from collections.abc import Callable
from typing import Any, Final, Generic, TypeVar

import msgspec
from nacl.exceptions import BadSignatureError
from nacl.signing import SigningKey, VerifyKey

from tapcard.errors import TapcardError
from tapcard.wire import PROTOCOL_VERSION
from tapcard.wire.codes import Reason
from tapcard.wire.messages import PAYLOAD_BYTES_MAX, Body

HUB_SIGNER = "hub"
_SIGN_TAG = b"tapcard/v1\n"
SIG_B64_LEN = 88  # base64 of 64 bytes
# The deepest JSON nesting any message may have. The decoders recurse once per level:
# a small payload nested thousands deep would exhaust the stack (RecursionError) of
# whoever decodes it, so anything deeper is refused before decoding starts. The
# deepest real message (a rule set: envelope > rules > campaigns > lists) is ~6 deep.
JSON_DEPTH_MAX: Final = 32

# Bracket bytes count +1 / -1 for `json_depth`; every other byte counts 0.
_DEPTH_STEP: Final = tuple(
    1 if byte in b"[{" else -1 if byte in b"]}" else 0 for byte in range(256)
)
_NOT_BRACKETS: Final = bytes(b for b in range(256) if b not in b"[]{}")

B = TypeVar("B", bound=Body)


class WireError(TapcardError):
    """A message that cannot be accepted; `reason` says why in protocol terms."""

    def __init__(self, reason: Reason, message: str) -> None:
        super().__init__(message)
        self.reason = reason


class Envelope(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    v: int
    signer: str
    body: str
    sig: str


_envelope_decoder = msgspec.json.Decoder(Envelope)
_encoder = msgspec.json.Encoder()


def json_depth(data: bytes) -> int:
    """How deep `data` nests, found without decoding it (and without recursion): never
    less than the depth a decoder reaches (on invalid JSON it stops at the first error),
    and exact whenever it exceeds JSON_DEPTH_MAX.

    Brackets inside strings do not count: escaped backslashes and quotes are dropped
    first, then every other quote-separated part is a string. Each step is a bytes
    method or a C iterator: linear in the size, whatever the input."""
    openers = data.count(b"{") + data.count(b"[")
    if openers <= JSON_DEPTH_MAX:
        return openers  # the usual case: too few openers to nest deeper than the limit
    unescaped = data.replace(b"\\\\", b"") if b"\\\\" in data else data
    if b'\\"' in unescaped:
        unescaped = unescaped.replace(b'\\"', b"")
    outside = b"".join(unescaped.split(b'"')[::2])
    brackets = outside.translate(None, _NOT_BRACKETS)
    return max(itertools.accumulate(_DEPTH_STEP[b] for b in brackets), default=0)


def check_depth(data: bytes, what: str) -> None:
    """Refuse (MALFORMED) what nests deeper than JSON_DEPTH_MAX, before decoding it."""
    depth = json_depth(data)
    if depth > JSON_DEPTH_MAX:
        raise WireError(Reason.MALFORMED, f"{what} nests {depth} deep > {JSON_DEPTH_MAX}")


def _signed_bytes(topic: str, body: bytes) -> bytes:
    return _SIGN_TAG + topic.encode() + b"\n" + body


def seal(key: SigningKey, signer: str, topic: str, body: Body) -> bytes:
    """Encode and sign a body for one topic."""
    body_bytes = _encoder.encode(body)
    signature = key.sign(_signed_bytes(topic, body_bytes)).signature
    envelope = Envelope(
        v=PROTOCOL_VERSION,
        signer=signer,
        body=body_bytes.decode(),
        sig=base64.b64encode(signature).decode(),
    )
    return _encoder.encode(envelope)


def open_envelope(payload: bytes, size_max: int = PAYLOAD_BYTES_MAX) -> Envelope:
    """Parse the envelope without trusting it yet."""
    if len(payload) > size_max:
        raise WireError(Reason.OVERSIZE, f"payload of {len(payload)} bytes > {size_max}")
    # No depth check here: the envelope's decoder is strict (four scalar fields, unknown
    # ones refused), so it stops at the first nested value instead of descending.
    try:
        envelope = _envelope_decoder.decode(payload)
    except (msgspec.DecodeError, RecursionError) as exc:
        raise WireError(Reason.MALFORMED, f"not a signed envelope: {exc}") from None
    if envelope.v != PROTOCOL_VERSION:
        raise WireError(Reason.UNSUPPORTED_VERSION, f"envelope version {envelope.v}")
    return envelope


def verify(envelope: Envelope, topic: str, key: VerifyKey) -> bytes:
    """The body bytes, once the signature over (topic, body) holds."""
    body_bytes = envelope.body.encode()
    try:
        if len(envelope.sig) != SIG_B64_LEN:
            raise ValueError("signature length")
        signature = base64.b64decode(envelope.sig, validate=True)
        key.verify(_signed_bytes(topic, body_bytes), signature)
    except (BadSignatureError, ValueError, binascii.Error):
        raise WireError(Reason.BAD_SIGNATURE, f"bad signature from {envelope.signer!r}") from None
    return body_bytes


class BodyDecoder(Generic[B]):
    """Decodes one message type; a decoder per type is built once and reused."""

    def __init__(self, body_type: type[B]) -> None:
        self._decoder: msgspec.json.Decoder[B] = msgspec.json.Decoder(body_type)

    def decode(self, body_bytes: bytes) -> B:
        check_depth(body_bytes, "the body")
        try:
            body = self._decoder.decode(body_bytes)
        except msgspec.ValidationError as exc:
            raise WireError(Reason.SCHEMA, f"schema violation: {exc}") from None
        # RecursionError only if JSON_DEPTH_MAX were raised past the stack: still refused.
        except (msgspec.DecodeError, RecursionError) as exc:
            raise WireError(Reason.MALFORMED, f"body is not JSON: {exc}") from None
        if body.v != PROTOCOL_VERSION:
            raise WireError(Reason.UNSUPPORTED_VERSION, f"message version {body.v}")
        return body


def signed_by_hub(hub_key: VerifyKey) -> Callable[[str], VerifyKey]:
    """The key lookup for what devices receive: only the hub signs those messages."""

    def key_for(signer: str) -> VerifyKey:
        if signer != HUB_SIGNER:
            raise WireError(Reason.BAD_SIGNATURE, f"{signer!r} is not the hub")
        return hub_key

    return key_for


def unseal(
    payload: bytes,
    topic: str,
    key_for: Callable[[str], VerifyKey],
    body_type: type[B],
    size_max: int = PAYLOAD_BYTES_MAX,
) -> tuple[str, B]:
    """Check size, envelope, signer, signature and schema, in that order."""
    envelope = open_envelope(payload, size_max)
    key = key_for(envelope.signer)  # raises WireError for unknown signers
    body_bytes = verify(envelope, topic, key)
    body = _decode(body_bytes, body_type)
    return envelope.signer, body


_decoders: dict[type[Any], BodyDecoder[Any]] = {}


def _decode(body_bytes: bytes, body_type: type[B]) -> B:
    decoder = _decoders.get(body_type)
    if decoder is None:
        decoder = _decoders[body_type] = BodyDecoder(body_type)
    body: B = decoder.decode(body_bytes)
    return body
