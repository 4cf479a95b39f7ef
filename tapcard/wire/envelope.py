"""Signed envelopes: every message on the wire is signed by whoever sent it.

Payload: `{"v":1,"signer":"<device id or hub>","body":"<JSON text>","sig":"<base64>"}`.
The Ed25519 signature covers a domain tag, the topic and the exact body bytes, so a
signed message cannot be replayed on another topic, and the body is decoded only
after the signature holds.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
from typing import Any, Generic, TypeVar

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
    try:
        envelope = _envelope_decoder.decode(payload)
    except msgspec.DecodeError as exc:
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
        try:
            body = self._decoder.decode(body_bytes)
        except msgspec.ValidationError as exc:
            raise WireError(Reason.SCHEMA, f"schema violation: {exc}") from None
        except msgspec.DecodeError as exc:
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
