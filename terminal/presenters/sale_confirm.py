"""What the sale's confirmation shows before it books (terminal/presenters/confirm.py):
the items and their total, the discounts, each tender with its amount and reference,
stored value now and after when it pays a part, and the points to earn. The amounts
are the engine's quote for the member on the reader; the hub prices the sale again."""

from __future__ import annotations

from collections.abc import Sequence

from tapcard.domain.engine import SaleLine, SaleQuote
from tapcard.domain.model import Payment
from tapcard.domain.tenders import Tendered
from tapcard.ui import fmt
from terminal.presenters.desk import Desk
from terminal.presenters.receipts import discount_rows, tender_rows


def sale_lines(
    desk: Desk,
    lines: Sequence[SaleLine],
    quote: SaleQuote,
    parts: Sequence[Tendered],
    stored_value_cents: int,
) -> tuple[str, ...]:
    t = desk.t
    items = sum(line.quantity for line in lines)
    rows = [t("Items: {n}", n=items) + f" · {t('Retail')} {fmt.money(quote.gross_cents)}"]
    rows += [f"{label} {amount}" for label, amount in discount_rows(desk, quote)]
    rows.append(t("To pay") + f" {fmt.money(quote.net_cents)}")
    rows += [f"{label}: {amount}" for label, amount in tender_rows(t, parts)]
    stored = sum(p.cents for p in parts if p.payment == Payment.STORED_VALUE)
    if stored:
        after = stored_value_cents - stored
        rows.append(
            t("Stored value") + f": {fmt.money(stored_value_cents)} \u2192 {fmt.money(after)}"
        )
        if after < 0:
            rows.append(t("Not enough stored value"))
    rows.append(t("Points to earn") + f" {fmt.points(quote.points)}")
    return tuple(rows)
