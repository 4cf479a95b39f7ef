"""Where and until when a voucher counts, and what an unused expired one gives back.

A redemption's voucher takes its validity and its place from the catalog item as the
rules stood when it was issued (`VoucherTerms`): the hub stores them with the voucher, so
a later rule set changes no voucher already in a member's hand. Pure: the hub passes its
own time and the accepting device's branch and kind, never a device's word for them.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from tapcard.domain.model import DeviceKind
from tapcard.domain.rules import VOUCHER_PLACE_SEPARATOR, CatalogItem

DAY_MS = 86_400_000


class VoucherRefusal(enum.StrEnum):
    """Why a voucher does not count (the wire's VOUCHER_* reasons, by name)."""

    EXPIRED = "voucher_expired"
    WRONG_BRANCH = "voucher_wrong_branch"
    WRONG_DEVICE = "voucher_wrong_device"


@dataclass(frozen=True, slots=True)
class VoucherTerms:
    expires_ms: int | None  # hub time from which it no longer counts; None: never
    branches: tuple[str, ...] = ()  # empty: every branch
    device_kinds: tuple[str, ...] = ()  # DeviceKind values; empty: every kind


@dataclass(frozen=True, slots=True)
class Place:
    """Where a voucher is shown: the accepting device's branch and kind, as the hub
    knows them from its registry."""

    branch: str
    device_kind: str


def terms_of(item: CatalogItem | None, issued_ms: int) -> VoucherTerms:
    """The terms of a voucher issued at hub time `issued_ms` for `item` (an item the rules
    no longer have gets no expiry and no place: it counts as it always did)."""
    if item is None:
        return VoucherTerms(None)
    expires = issued_ms + item.valid_days * DAY_MS if item.valid_days > 0 else None
    kinds = tuple(DeviceKind(kind).value for kind in item.device_kinds)
    return VoucherTerms(expires, tuple(item.branches), kinds)


def refusal(terms: VoucherTerms, now_ms: int, place: Place | None) -> VoucherRefusal | None:
    """Why a voucher does not count now and here, or None when it does. `place` None is
    HQ accepting it on a member's behalf: only the expiry applies. The expiry instant
    itself no longer counts (valid for [issued, expires))."""
    if terms.expires_ms is not None and now_ms >= terms.expires_ms:
        return VoucherRefusal.EXPIRED
    if place is None:
        return None
    if terms.branches and place.branch not in terms.branches:
        return VoucherRefusal.WRONG_BRANCH
    if terms.device_kinds and place.device_kind not in terms.device_kinds:
        return VoucherRefusal.WRONG_DEVICE
    return None


def gives_points_back(item: CatalogItem | None) -> bool:
    return item is not None and item.points_back_on_expiry


def place_text(values: tuple[str, ...]) -> str:
    """A list of branches or device kinds as stored with the voucher."""
    return VOUCHER_PLACE_SEPARATOR.join(values)


def place_values(text: str | None) -> tuple[str, ...]:
    return tuple(v for v in (text or "").split(VOUCHER_PLACE_SEPARATOR) if v)
