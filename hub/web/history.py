"""A member's ledger history as an operator reads it: what each transfer did to the
member's points and stored value, the money, the tender, where and by whom, a receipt
number or short id to quote, and the detail in words instead of JSON."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any, Final

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from hub import db
from hub.web.i18n import money

HISTORY_ROWS_MAX: Final = 200
SHORT_ID_CHARS: Final = 8
DETAIL_CHARS_MAX: Final = 300
# Detail keys that the columns already show, or that only the refund code needs.
_SHOWN: Final = frozenset(
    {"payment", "net_cents", "points", "lines", "tier", "program", "branch", "receipt_no"}
)
_LABELS: Final = {
    "gross_cents": "gross",
    "discount_cents": "discount",
    "excluded_cents": "not discounted",
    "remainder_cents": "remainder",
    "factor_pct": "points factor %",
    "campaigns": "campaigns",
    "gifts": "gifts",
    "item": "item",
    "units": "units",
    "reverses": "reverses",
    "fee": "fee",
    "expires_on": "valid until",
    "renewed_from": "renewed from",
    "refunds": "refunds",
    "into": "merged into",
    "from": "merged from",
    "role": "role",
    "kind": "kind",
    "phone": "phone",
    "chain": "chain",
    "name": "name",
    "card": "card",
    "branch_id": "branch",
    "reason": "reason",
}
Translate = Callable[..., str]


def short_id(tx_id: str) -> str:
    return tx_id[:SHORT_ID_CHARS]


def _effects(conn: Connection, member_id: int, tx_ids: list[str]) -> dict[str, dict[str, int]]:
    """tx_id -> asset -> net change of the member's own accounts."""
    if not tx_ids:
        return {}
    lg = db.legs
    rows = conn.execute(
        sa.select(lg.c.tx_id, lg.c.asset, sa.func.sum(lg.c.credit) - sa.func.sum(lg.c.debit))
        .where(lg.c.tx_id.in_(tx_ids), lg.c.account.like(f"m:{member_id}:%"))
        .group_by(lg.c.tx_id, lg.c.asset)
    )
    effects: dict[str, dict[str, int]] = {}
    for tx_id, asset, total in rows:
        effects.setdefault(tx_id, {})[asset] = int(total or 0)
    return effects


def member_history(
    conn: Connection, member_id: int, limit: int = HISTORY_ROWS_MAX
) -> list[dict[str, Any]]:
    """The member's latest transfers, newest first, each with its effect and reference."""
    t, r, b = db.transfers, db.receipts, db.branches
    query = (
        sa.select(
            t.c.tx_id,
            t.c.kind,
            t.c.card_id,
            t.c.device_id,
            t.c.applied_ms,
            t.c.actor,
            t.c.reason,
            t.c.detail,
            t.c.branch_id,
            b.c.name.label("branch_name"),
            r.c.receipt_no,
        )
        .select_from(t.outerjoin(b, b.c.id == t.c.branch_id).outerjoin(r, r.c.tx_id == t.c.tx_id))
        .where(t.c.member_id == member_id)
        .order_by(t.c.applied_ms.desc(), t.c.tx_id)
        .limit(limit)
    )
    rows = [dict(row._mapping) for row in conn.execute(query)]
    effects = _effects(conn, member_id, [row["tx_id"] for row in rows])
    for row in rows:
        detail = _parsed(row.pop("detail"))
        effect = effects.get(row["tx_id"], {})
        row["points"] = effect.get("points", 0)
        row["cents"] = effect.get("cents", 0)
        row["growth"] = effect.get("growth", 0)
        row["money_cents"] = _money_of(detail)
        row["tender"] = str(detail.get("payment", "")) if isinstance(detail, dict) else ""
        row["ref"] = row["receipt_no"] or _detail_receipt(detail) or short_id(row["tx_id"])
        row["branch"] = row.pop("branch_name") or row["branch_id"] or ""
        row["detail"] = detail
    return rows


def _parsed(text: str | None) -> Any:
    try:
        return json.loads(text or "{}")
    except ValueError:
        return text or ""


def _money_of(detail: Any) -> int | None:
    if isinstance(detail, dict):
        for key in ("net_cents", "money_cents", "amount_cents"):
            value = detail.get(key)
            if isinstance(value, int):
                return value
    return None


def _detail_receipt(detail: Any) -> str:
    value = detail.get("receipt_no") if isinstance(detail, dict) else None
    return value if isinstance(value, str) else ""


def describe(detail: Any, _: Translate) -> str:
    """The detail as words: "gross ¥12.00 · discount ¥1.20 · campaigns: spring"."""
    if not isinstance(detail, Mapping):
        return str(detail)[:DETAIL_CHARS_MAX]
    parts: list[str] = []
    for key, value in detail.items():
        if key in _SHOWN or value in (None, "", [], {}, 0):
            continue
        label = _(_LABELS.get(key, key.replace("_", " ")))
        parts.append(f"{label}: {_value(key, value, _)}")
    return " · ".join(parts)[:DETAIL_CHARS_MAX]


def _value(key: str, value: Any, _: Translate) -> str:
    """A value in words: cents as ¥, a transfer as its short id, a code (a role, a kind)
    in the page's language when the catalog has it, data as it is."""
    if key.endswith("_cents") and isinstance(value, int):
        return money(value)
    if key == "reverses" and isinstance(value, str):
        return short_id(value)
    if isinstance(value, list):
        return ", ".join(_value(key, v, _) for v in value)
    if isinstance(value, dict):
        return ", ".join(f"{k} {_value(str(k), v, _)}" for k, v in value.items())
    if isinstance(value, str):
        return _(value)
    return str(value)
