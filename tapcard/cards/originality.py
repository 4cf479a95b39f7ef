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


@dataclass(frozen=True, slots=True)
class Curve:
    """A short Weierstrass curve y^2 = x^3 + ax + b over GF(p), base point (gx, gy) of
    order n; `size` is the byte length of a coordinate and of each half of (r || s)."""

    name: str
    p: int
    a: int
    b: int
    gx: int
    gy: int
    n: int
    size: int


# SEC 2: secp128r1 (NTAG21x) and secp224r1 (NTAG 4xx DNA, DESFire EV2/EV3/Light).
SECP128R1 = Curve(
    "secp128r1",
    p=0xFFFFFFFDFFFFFFFFFFFFFFFFFFFFFFFF,
    a=0xFFFFFFFDFFFFFFFFFFFFFFFFFFFFFFFC,
    b=0xE87579C11079F43DD824993C2CEE5ED3,
    gx=0x161FF7528B899B2D0C28607CA52C5B86,
    gy=0xCF5AC8395BAFEB13C02DA292DDED7A83,
    n=0xFFFFFFFE0000000075A30D1B9038A115,
    size=16,
)
SECP224R1 = Curve(
    "secp224r1",
    p=2**224 - 2**96 + 1,
    a=2**224 - 2**96 + 1 - 3,
    b=0xB4050A850C04B3ABF54132565044B0B7D7BFD8BA270B39432355FFB4,
    gx=0xB70E0CBD6BB4BF7F321390B94A03C1D356C21122343280D6115C1D21,
    gy=0xBD376388B5F723FB4C22DFE6CD4375A05A07476444D5819985007E34,
    n=0xFFFFFFFFFFFFFFFFFFFFFFFFFFFF16A2E0B8F03E13DD29455C5C2A3D,
    size=28,
)
P, A, B, GX, GY, N = (
    SECP128R1.p,
    SECP128R1.a,
    SECP128R1.b,
    SECP128R1.gx,
    SECP128R1.gy,
    SECP128R1.n,
)

SIGNATURE_BYTES = 32  # NTAG21x: secp128r1 (r || s)
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


def _on_curve(x: int, y: int, c: Curve = SECP128R1) -> bool:
    return (y * y - (x * x * x + c.a * x + c.b)) % c.p == 0


def _add(p1: Point, p2: Point, c: Curve = SECP128R1) -> Point:
    if p1 is None:
        return p2
    if p2 is None:
        return p1
    x1, y1 = p1
    x2, y2 = p2
    if x1 == x2 and (y1 + y2) % c.p == 0:
        return None
    if p1 == p2:
        slope = (3 * x1 * x1 + c.a) * pow(2 * y1, -1, c.p) % c.p
    else:
        slope = (y2 - y1) * pow(x2 - x1, -1, c.p) % c.p
    x3 = (slope * slope - x1 - x2) % c.p
    return x3, (slope * (x1 - x3) - y1) % c.p


def _mul(k: int, point: Point, c: Curve = SECP128R1) -> Point:
    result: Point = None
    addend = point
    while k:  # bounded: k < n, at most 224 rounds
        if k & 1:
            result = _add(result, addend, c)
        addend = _add(addend, addend, c)
        k >>= 1
    return result


def parse_public_key(raw: bytes, c: Curve = SECP128R1) -> PublicPoint:
    if len(raw) != 1 + 2 * c.size or raw[0] != 0x04:
        raise ValueError(f"originality key must be an uncompressed {c.name} point")
    x = int.from_bytes(raw[1 : 1 + c.size], "big")
    y = int.from_bytes(raw[1 + c.size :], "big")
    if not _on_curve(x, y, c):
        raise ValueError(f"originality key is not on {c.name}")
    return PublicPoint(x, y)


def verify_signature(uid: bytes, signature: bytes, public_key: bytes, c: Curve = SECP128R1) -> bool:
    """True when `signature` (r || s) over `uid` verifies under `public_key`."""
    if len(signature) != 2 * c.size:
        return False
    key = parse_public_key(public_key, c)
    r = int.from_bytes(signature[: c.size], "big")
    s = int.from_bytes(signature[c.size :], "big")
    if not (0 < r < c.n and 0 < s < c.n):
        return False
    e = int.from_bytes(uid, "big") % c.n
    w = pow(s, -1, c.n)
    point = _add(_mul(e * w % c.n, (c.gx, c.gy), c), _mul(r * w % c.n, (key.x, key.y), c), c)
    return point is not None and point[0] % c.n == r


def check_originality(
    uid: bytes, signature: bytes | None, public_keys: list[bytes], c: Curve = SECP128R1
) -> Originality:
    """Judge a READ_SIG answer of a tag model that has a signature; an absent or all-zero
    one is MISSING (refused unless the rules allow unchecked tags for the card's kind)."""
    if signature is None or signature == bytes(len(signature)):
        return Originality.MISSING
    if any(verify_signature(uid, signature, key, c) for key in public_keys):
        return Originality.GENUINE
    return Originality.NOT_GENUINE


def sign_for_tests(uid: bytes, private_key: int, nonce: int, c: Curve = SECP128R1) -> bytes:
    """ECDSA-sign a UID the way NXP does; only for emulated tags in tests and demos."""
    assert 0 < private_key < c.n and 0 < nonce < c.n
    point = _mul(nonce, (c.gx, c.gy), c)
    assert point is not None
    r = point[0] % c.n
    s = pow(nonce, -1, c.n) * (int.from_bytes(uid, "big") + r * private_key) % c.n
    assert r and s
    return r.to_bytes(c.size, "big") + s.to_bytes(c.size, "big")


def public_key_for_tests(private_key: int, c: Curve = SECP128R1) -> bytes:
    point = _mul(private_key, (c.gx, c.gy), c)
    assert point is not None
    return b"\x04" + point[0].to_bytes(c.size, "big") + point[1].to_bytes(c.size, "big")


assert _on_curve(GX, GY) and _on_curve(SECP224R1.gx, SECP224R1.gy, SECP224R1)
