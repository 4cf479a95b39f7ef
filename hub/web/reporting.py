"""Reports for the dashboard: the queries of hub.reports and hub.sales_reports, each
limited to the branch a user may see (a branch manager sees only their branch), with
how the page charts it, the words over its columns and the units of its CSV.

Every report returns plain rows; `CHARTS` says how the page draws each one, and
`chart_data` turns rows into the chart's labels and series (money in yuan), which the
page carries as JSON for charts.js to draw and a test to read.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from decimal import Decimal
from typing import Any, Final

from sqlalchemy.engine import Connection

from hub import reports, sales_reports
from hub.campaign_report import targeted_effect
from hub.refund_report import refunds_by

Rows = list[dict[str, Any]]
Report = Callable[[Connection, dt.date | None, dt.date | None, str | None], Rows]

SERIES_SHOWN_MAX: Final = 9  # series drawn on their own; the rest add up to "other"
OTHER: Final = "other"
# Ten colours far apart from each other (no two alike within a chart), the last for "other".
PALETTE: Final = (
    "#1f77b4",
    "#d62728",
    "#2ca02c",
    "#ff7f0e",
    "#9467bd",
    "#17becf",
    "#e377c2",
    "#8c564b",
    "#bcbd22",
    "#7f7f7f",
)
assert len(PALETTE) == SERIES_SHOWN_MAX + 1


def _cards(c: Connection, s: dt.date | None, e: dt.date | None, b: str | None) -> Rows:
    return reports.cards_by_tier_and_state(c, b)  # the cards as they are now: no dates


def _stored_value(c: Connection, s: dt.date | None, e: dt.date | None, b: str | None) -> Rows:
    return reports.stored_value(c, b)  # what members hold now: no dates


def _stored_value_branches(
    c: Connection, s: dt.date | None, e: dt.date | None, b: str | None
) -> Rows:
    return reports.stored_value_by_branch(c, b)  # since the first top-up: no dates


def _points_liability(c: Connection, s: dt.date | None, e: dt.date | None, b: str | None) -> Rows:
    # The chain's liability as of today: no dates, and not a branch's to see.
    return [] if b is not None else reports.points_liability(c)


REPORTS: dict[str, tuple[str, Report]] = {
    "turnover": ("Turnover by branch and day", reports.turnover),
    "compare": ("This period against the one before", sales_reports.period_compare),
    "categories": ("Sales by category", reports.sales_by_category),
    "products": ("Sales by product", sales_reports.sales_by_product),
    "top_members": ("Top members", sales_reports.top_members),
    "new_members": ("New members", reports.new_members),
    "member_sources": ("New members by source", sales_reports.new_members_by_source),
    "campaigns": ("Campaign effect", sales_reports.campaign_effect),
    "campaign_effect": ("Targeted campaigns against their control group", targeted_effect),
    "points": ("Points issued vs redeemed", reports.points_flow),
    "stored_value": ("Stored value outstanding", _stored_value),
    "stored_value_branches": ("Stored value by branch (settlement)", _stored_value_branches),
    "points_liability": ("Points liability and what expires in 30 and 90 days", _points_liability),
    "cards": ("Cards by tier and state", _cards),
    "staff": ("Staff service performance", reports.staff_performance),
    "refunds": ("Refunds by branch, staff and reason", refunds_by),
}

# How the page charts each report: (chart type, label field, value fields, series field).
CHARTS: dict[str, tuple[str, str, list[str], str | None]] = {
    "turnover": ("bar", "day", ["net_cents"], "branch"),
    "compare": ("bar", "branch", ["net_cents", "previous_net_cents"], None),
    "categories": ("bar", "category", ["gross_cents"], None),
    "products": ("bar", "product", ["gross_cents"], None),
    "top_members": ("bar", "name", ["net_cents"], None),
    "new_members": ("line", "day", ["members"], None),
    "member_sources": ("bar", "branch", ["by_fee_or_registration", "by_spend"], None),
    "campaigns": ("bar", "campaign", ["net_cents", "cost_cents"], None),
    "campaign_effect": ("bar", "campaign", ["treated_spend_cents", "control_spend_cents"], None),
    "points": ("line", "day", ["issued", "redeemed"], None),
    "stored_value": ("bar", "branch", ["outstanding_cents"], None),
    "stored_value_branches": ("bar", "branch", ["topped_up_cents", "spent_cents"], None),
    "points_liability": ("bar", "points", ["liability_cents"], None),
    "cards": ("bar", "tier", ["cards"], "state"),
    "staff": ("bar", "actor", ["transfers"], None),
    "refunds": ("bar", "reason", ["refunded_cents"], "branch"),
}

assert set(CHARTS) == set(REPORTS)

# The words over each column (in English: the page translates them); money columns
# (`*_cents`) show in ¥ under these words.
COLUMNS: Final = {
    "branch": "Branch",
    "home_branch": "Home branch",
    "day": "Day",
    "period": "Period",
    "net_cents": "Net sales (¥)",
    "previous_net_cents": "Period before (¥)",
    "change_pct": "Change (%)",
    "orders": "Orders",
    "previous_orders": "Orders before",
    "category": "Category",
    "product": "Product",
    "quantity": "Quantity",
    "gross_cents": "Gross sales (¥)",
    "member": "Member",
    "name": "Name",
    "tier": "Tier",
    "state": "State",
    "cards": "Cards",
    "members": "Members",
    "by_spend": "Joined by spending",
    "by_fee_or_registration": "Joined by fee or registration",
    "campaign": "Campaign",
    "kind": "Kind",
    "new_members": "New members",
    "cost_cents": "Cost (¥)",
    "gifts": "Gifts",
    "extra_points": "Extra points",
    "issued": "Points issued",
    "redeemed": "Points redeemed",
    "outstanding_cents": "Stored value (¥)",
    "topped_up_cents": "Topped up (¥)",
    "spent_cents": "Spent (¥)",
    "liability_cents": "Liability (¥)",
    "points": "Points",
    "actor": "Staff",
    "staff": "Staff",
    "transfers": "Transactions",
    "sales": "Sales",
    "reason": "Reason",
    "refunds": "Refunds",
    "refunded_cents": "Refunded (¥)",
    "points_shortfall": "Points not recovered",
    "segment": "Segment",
    "participants": "Participants",
    "discount_cents": "Discount (¥)",
    "budget_cents": "Budget (¥)",
    "budget_used_cents": "Budget used (¥)",
    "budget_points": "Points budget",
    "budget_used_points": "Points budget used",
    "treated": "Treated members",
    "held_out": "Held-out members",
    "treated_spend_cents": "Spend per treated member (¥)",
    "control_spend_cents": "Spend per held-out member (¥)",
    "spend_uplift_pct": "Spend uplift (%)",
    "treated_visit_pct": "Treated who visited (%)",
    "control_visit_pct": "Held-out who visited (%)",
}

# CSV headers carry their unit: money as `*_yuan` (reports.in_yuan), points as `*_points`.
CSV_POINTS: Final = {
    "issued": "issued_points",
    "redeemed": "redeemed_points",
    "points_shortfall": "shortfall_points",
}


def column_words(column: str) -> str:
    return COLUMNS.get(column, column.replace("_", " ").capitalize())


def run(
    conn: Connection, name: str, start: dt.date | None, end: dt.date | None, branch: str | None
) -> Rows:
    _, func = REPORTS[name]
    return func(conn, start, end, branch)


def csv_rows(rows: Rows) -> Rows:
    """The rows for CSV: money in yuan and every header with its unit."""
    return [{CSV_POINTS.get(k, k): v for k, v in row.items()} for row in reports.in_yuan(rows)]


def _amount(field: str, value: Any) -> float | int:
    """A chart value: cents as yuan (exact to the cent), anything else as it is."""
    if field.endswith("_cents"):
        return float(Decimal(int(value or 0)).scaleb(-2))
    return int(value or 0)


def presets(today: dt.date) -> list[tuple[str, dt.date, dt.date]]:
    """The date ranges a click away: (words, first day, last day), by the hub's today."""
    return [
        ("Today", today, today),
        ("This week", today - dt.timedelta(days=today.weekday()), today),
        ("This month", today.replace(day=1), today),
        ("Last 30 days", today - dt.timedelta(days=29), today),
    ]


def _same(text: str) -> str:
    return text


def chart_data(name: str, rows: Rows, translate: Callable[[str], str] = _same) -> dict[str, Any]:
    """What the page draws: labels, datasets (label, data, colour) and the unit of the
    y axis ("¥" for money). With a series field the bars stack, one dataset per series
    value, the largest SERIES_SHOWN_MAX on their own and the rest summed as "other"."""
    kind, label, values, series = CHARTS[name]
    money = all(v.endswith("_cents") for v in values)
    labels = list(dict.fromkeys(str(r[label]) for r in rows))
    datasets: list[dict[str, Any]] = []
    if series:
        field = values[0]
        totals: dict[str, float] = {}
        for r in rows:
            key = str(r[series])
            totals[key] = totals.get(key, 0) + abs(_amount(field, r[field]))
        ranked = sorted(totals, key=lambda k: (-totals[k], k))
        shown = ranked if len(ranked) <= SERIES_SHOWN_MAX + 1 else ranked[:SERIES_SHOWN_MAX]
        sums: dict[str, dict[str, int]] = {k: {} for k in [*shown, OTHER]}
        for r in rows:
            key = str(r[series]) if str(r[series]) in shown else OTHER
            cells = sums[key]
            cells[str(r[label])] = cells.get(str(r[label]), 0) + int(r[field] or 0)
        names = shown + ([OTHER] if len(shown) < len(ranked) else [])
        for i, key in enumerate(names):
            color = PALETTE[-1] if key == OTHER else PALETTE[i]
            data = [_amount(field, sums[key].get(x, 0)) for x in labels]
            shown_as = translate(OTHER) if key == OTHER else key
            datasets.append({"label": shown_as, "data": data, "color": color})
    else:
        for i, field in enumerate(values):
            data = [_amount(field, r[field]) for r in rows]
            words = translate(column_words(field))
            datasets.append({"label": words, "data": data, "color": PALETTE[i]})
    return {
        "type": kind,
        "labels": labels,
        "datasets": datasets,
        "stacked": bool(series) and kind == "bar",
        "unit": "¥" if money else "",
    }
