"""Helpers for the wire tests: an independent sealer and paho-style byte comparison."""

from __future__ import annotations

import base64
import json

from nacl.signing import SigningKey

SIGN_TAG = b"tapcard/v1\n"  # restated here on purpose: the spec, not the implementation
HEXDUMP_WIDTH = 16


def seal_raw(
    key: SigningKey, signer: str, topic: str, body: bytes, version: int = 1, sig: str | None = None
) -> bytes:
    """An envelope built by hand from the documented rule, for bodies that the
    typed encoder would never produce (schema violations, other versions)."""
    signature = key.sign(SIGN_TAG + topic.encode() + b"\n" + body).signature
    envelope = {
        "v": version,
        "signer": signer,
        "body": body.decode(),
        "sig": base64.b64encode(signature).decode() if sig is None else sig,
    }
    return json.dumps(envelope, separators=(",", ":")).encode()


def hexdump(data: bytes) -> str:
    lines = []
    for offset in range(0, len(data), HEXDUMP_WIDTH):
        chunk = data[offset : offset + HEXDUMP_WIDTH]
        hexes = " ".join(f"{b:02x}" for b in chunk)
        text = "".join(chr(b) if 32 <= b < 127 else "." for b in chunk)
        lines.append(f"{offset:06x}  {hexes:<{HEXDUMP_WIDTH * 3}} {text}")
    return "\n".join(lines)


def byte_mismatch(name: str, expected: bytes, actual: bytes) -> str | None:
    """None when equal; otherwise where they differ and both sides hex-dumped."""
    if expected == actual:
        return None
    first = next(
        (i for i, (a, b) in enumerate(zip(expected, actual, strict=False)) if a != b),
        min(len(expected), len(actual)),
    )
    return (
        f"{name}: bytes differ at offset {first} "
        f"(expected {len(expected)} bytes, got {len(actual)})\n"
        f"expected: ...{expected[max(0, first - 20) : first + 40]!r}\n"
        f"actual:   ...{actual[max(0, first - 20) : first + 40]!r}\n"
        f"--- expected\n{hexdump(expected)}\n--- actual\n{hexdump(actual)}"
    )
