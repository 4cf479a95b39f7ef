"""A device's offline checks of member codes (tapcard/device/member_codes.py).

With the device's real document store in a temporary folder: a code signed by the
issuer is taken once, and refused as used after the device restarts; a code past its
end is expired; one signed by another key, one whose text names another card, a
non-canonical signature and a code that ends too far ahead of the device's clock are
invalid; a code of the first form needs the hub. A save that fails (the disk full)
raises StoreError and takes nothing, so the same code works once the disk has room.
Nonces are dropped USED_KEPT_MS after their code ends, and never beyond USED_MAX.
"""

from __future__ import annotations

import string
from pathlib import Path

import pytest

from tapcard.cards import member_code
from tapcard.device import member_codes
from tapcard.device.docstore import DocStore
from tapcard.device.member_codes import MemberCodes, Taken
from tapcard.device.store import StoreError
from tapcard.wire.keys import new_signing_key

NOW_MS = 1_790_000_000_000
ISSUER = new_signing_key()
CARD = "C100001"


def code(nonce: int = 1, card: str = CARD, made_ms: int = NOW_MS) -> str:
    return member_code.sign(ISSUER, card, made_ms, nonce.to_bytes(8, "big"))


def codes(docs: DocStore) -> MemberCodes:
    return MemberCodes([ISSUER.verify_key], docs.get, docs.put)


def test_a_code_is_taken_once_across_a_restart(tmp_path: Path) -> None:
    docs = DocStore(tmp_path)
    book = codes(docs)
    assert book.take(CARD, code(), NOW_MS) is Taken.OK
    assert book.code_for(CARD) == code() and book.code_for("C2") == ""
    assert book.take(CARD, code(), NOW_MS + 1_000) is Taken.USED
    book.tapped()
    assert book.code_for(CARD) == ""
    docs.close()
    again = DocStore(tmp_path)
    assert codes(again).take(CARD, code(), NOW_MS + 2_000) is Taken.USED
    assert codes(again).take(CARD, code(2), NOW_MS + 2_000) is Taken.OK
    again.close()


def test_what_is_refused_and_why(tmp_path: Path) -> None:
    docs = DocStore(tmp_path)
    book = codes(docs)
    late = NOW_MS + member_code.LIFETIME_MS
    assert book.take(CARD, code(), late) is Taken.EXPIRED
    other = member_code.sign(new_signing_key(), CARD, NOW_MS, bytes(8))
    assert book.take(CARD, other, NOW_MS) is Taken.INVALID
    assert book.take("C2", code(), NOW_MS) is Taken.INVALID  # the text names another card
    text = code()
    # The last character carries 2 bits of the signature and 4 spare: flip a spare one.
    alphabet = string.ascii_uppercase + string.ascii_lowercase + string.digits + "-_"
    spare_bits = text[:-1] + alphabet[alphabet.index(text[-1]) ^ 1]
    assert book.take(CARD, spare_bits, NOW_MS) is Taken.INVALID
    ahead = NOW_MS + member_code.LIFETIME_MS + member_codes.CLOCK_BEHIND_MS_MAX + 2_000
    assert book.take(CARD, code(made_ms=ahead), NOW_MS) is Taken.INVALID  # clock behind
    first_form = f"TCM1.{CARD}.{NOW_MS // 1000 + 60}.AAAAAAAAAAA.BBBBBBBBBBBBBBBB"
    assert book.take(CARD, first_form, NOW_MS) is Taken.NEEDS_HUB
    assert book.take(CARD, "TCM2.not a code", NOW_MS) is Taken.INVALID
    assert docs.get(member_codes.USED_DOC) is None  # nothing refused was recorded
    docs.close()


def test_a_failed_save_takes_nothing(tmp_path: Path) -> None:
    docs = DocStore(tmp_path)

    def full_disk(name: str, doc: object) -> None:
        raise OSError(28, "No space left on device")

    book = MemberCodes([ISSUER.verify_key], docs.get, full_disk)
    with pytest.raises(StoreError):
        book.take(CARD, code(), NOW_MS)
    assert book.code_for(CARD) == ""
    assert codes(docs).take(CARD, code(), NOW_MS) is Taken.OK  # the disk has room again
    docs.close()


def test_old_nonces_are_dropped_and_the_record_is_bounded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    docs = DocStore(tmp_path)
    book = codes(docs)
    assert book.take(CARD, code(1), NOW_MS) is Taken.OK
    later = NOW_MS + member_code.LIFETIME_MS + member_codes.USED_KEPT_MS + 1_000
    assert book.take(CARD, code(2, made_ms=later), later) is Taken.OK
    kept = docs.get(member_codes.USED_DOC)
    assert isinstance(kept, dict) and len(kept) == 1  # the first code's nonce is gone
    monkeypatch.setattr(member_codes, "USED_MAX", 3)
    for nonce in range(3, 8):
        assert book.take(CARD, code(nonce, made_ms=later), later) is Taken.OK
    kept = docs.get(member_codes.USED_DOC)
    assert isinstance(kept, dict) and len(kept) == 3
    assert book.take(CARD, code(7, made_ms=later), later) is Taken.USED  # the newest kept
    docs.close()
