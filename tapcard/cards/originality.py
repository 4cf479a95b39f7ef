"""NXP originality signature of NTAG21x chips (READ_SIG), checked offline.

At production NXP signs each chip's 7-byte UID with ECDSA over secp128r1; the tag
returns the 32-byte signature (r || s) to READ_SIG. A valid signature shows the UID
came from a genuine NXP chip (a clone with a programmable UID fails), which is what
makes the UID binding in the credential worth something on tags that cannot answer a
challenge. The UID is used as the ECDSA message directly, without hashing, as NXP's
application note AN11350 specifies. secp128r1 is not in PyNaCl or the standard library,
and verifying one signature in plain Python takes about 4 ms, so it lives here.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

# SEC 2, secp128r1
P = 0xFFFFFFFDFFFFFFFFFFFFFFFFFFFFFFFF
A = 0xFFFFFFFDFFFFFFFFFFFFFFFFFFFFFFFC
B = 0xE87579C11079F43DD824993C2CEE5ED3
GX = 0x161FF7528B899B2D0C28607CA52C5B86
GY = 0xCF5AC8395BAFEB13C02DA292DDED7A83
N = 0xFFFFFFFE0000000075A30D1B9038A115

SIGNATURE_BYTES = 32
POINT_BYTES = 33  # uncompressed point: 04 || x || y, each 16 bytes

# NXP's published public key for NTAG21x originality signatures (AN11350).
NXP_NTAG21X_PUBLIC_KEY = bytes.fromhex(
    "04494E1A386D3D3CFE3DC10E5DE68A499B1C202DB5B132393E89ED19FE5BE8BC61"
)

Point = tuple[int, int] | None  # None is the point at infinity


class Originality(enum.Enum):
    """Outcome of the originality check, as shown in a tap record and health reports."""

    GENUINE = "genuine"
    NOT_GENUINE = "not_genuine"
    UNCHECKED = "unchecked"  # this tag model or reader has no signature to give
    # The tag model signs its UID (an NTAG21x), but this one gave no signature or an
    # all-zero one: what a UID-changeable clone with a copied credential does.
    MISSING = "missing"


@dataclass(frozen=True, slots=True)
class PublicPoint:
    x: int
    y: int


def _on_curve(x: int, y: int) -> bool:
    return (y * y - (x * x * x + A * x + B)) % P == 0


def _add(p1: Point, p2: Point) -> Point:
    if p1 is None:
        return p2
    if p2 is None:
        return p1
    x1, y1 = p1
    x2, y2 = p2
    if x1 == x2 and (y1 + y2) % P == 0:
        return None
    if p1 == p2:
        slope = (3 * x1 * x1 + A) * pow(2 * y1, -1, P) % P
    else:
        slope = (y2 - y1) * pow(x2 - x1, -1, P) % P
    x3 = (slope * slope - x1 - x2) % P
    return x3, (slope * (x1 - x3) - y1) % P


def _mul(k: int, point: Point) -> Point:
    result: Point = None
    addend = point
    while k:  # bounded: k < N, at most 128 rounds
        if k & 1:
            result = _add(result, addend)
        addend = _add(addend, addend)
        k >>= 1
    return result


def parse_public_key(raw: bytes) -> PublicPoint:
    if len(raw) != POINT_BYTES or raw[0] != 0x04:
        raise ValueError("originality key must be an uncompressed secp128r1 point")
    x = int.from_bytes(raw[1:17], "big")
    y = int.from_bytes(raw[17:33], "big")
    if not _on_curve(x, y):
        raise ValueError("originality key is not on secp128r1")
    return PublicPoint(x, y)


def verify_signature(uid: bytes, signature: bytes, public_key: bytes) -> bool:
    """True when `signature` (r || s) over `uid` verifies under `public_key`."""
    if len(signature) != SIGNATURE_BYTES:
        return False
    key = parse_public_key(public_key)
    r = int.from_bytes(signature[:16], "big")
    s = int.from_bytes(signature[16:], "big")
    if not (0 < r < N and 0 < s < N):
        return False
    e = int.from_bytes(uid, "big") % N
    w = pow(s, -1, N)
    point = _add(_mul(e * w % N, (GX, GY)), _mul(r * w % N, (key.x, key.y)))
    return point is not None and point[0] % N == r


def check_originality(uid: bytes, signature: bytes | None, public_keys: list[bytes]) -> Originality:
    """Judge a READ_SIG answer of a tag model that has a signature; an absent or all-zero
    one is MISSING (refused unless the rules allow unchecked tags for the card's kind)."""
    if signature is None or signature == bytes(SIGNATURE_BYTES):
        return Originality.MISSING
    if any(verify_signature(uid, signature, key) for key in public_keys):
        return Originality.GENUINE
    return Originality.NOT_GENUINE


def sign_for_tests(uid: bytes, private_key: int, nonce: int) -> bytes:
    """ECDSA-sign a UID the way NXP does; only for emulated tags in tests and demos."""
    assert 0 < private_key < N and 0 < nonce < N
    point = _mul(nonce, (GX, GY))
    assert point is not None
    r = point[0] % N
    s = pow(nonce, -1, N) * (int.from_bytes(uid, "big") + r * private_key) % N
    assert r and s
    return r.to_bytes(16, "big") + s.to_bytes(16, "big")


def public_key_for_tests(private_key: int) -> bytes:
    point = _mul(private_key, (GX, GY))
    assert point is not None
    return b"\x04" + point[0].to_bytes(16, "big") + point[1].to_bytes(16, "big")


assert _on_curve(GX, GY)
