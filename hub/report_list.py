"""Every report by the name `tapcard hub report` gives it.

The same functions as the dashboard's reports (hub/web/reporting.py), so that a figure
the CLI prints and the one a page charts come from one query in one place: campaign
effect, for one, is hub.sales_reports' (multipliers, gifts, new members, refunds).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

from hub import campaign_report, reports, sales_reports
from hub.refund_report import refunds_by

REPORTS: Final[dict[str, Callable[..., list[dict[str, Any]]]]] = {
    "turnover": reports.turnover,
    "compare": sales_reports.period_compare,
    "points": reports.points_flow,
    "cards": reports.cards_by_tier_and_state,
    "categories": reports.sales_by_category,
    "products": sales_reports.sales_by_product,
    "top-members": sales_reports.top_members,
    "new-members": reports.new_members,
    "member-sources": sales_reports.new_members_by_source,
    "campaigns": sales_reports.campaign_effect,
    "campaign-effect": campaign_report.targeted_effect,  # targeted: cost, return, uplift
    "staff": reports.staff_performance,
    "stored-value": reports.stored_value_by_branch,
    "gaps": reports.sequence_gaps,
    "exceptions": reports.open_exceptions,
    "points-liability": reports.points_liability,
    "refunds": refunds_by,
}
# The reports that take a period (--from, --to) and a branch (--branch).
DATED: Final = frozenset(
    {"turnover", "compare", "points", "categories", "products", "top-members", "new-members"}
    | {"member-sources", "campaigns", "campaign-effect", "staff", "refunds"}
)
BRANCHED: Final = DATED | {"cards", "stored-value"}
# Money in these reports' rows is in cents under *_cents names and printed in yuan by
# the CLI's table; these two carry amounts the table would not know as money.
IN_YUAN: Final = frozenset({"stored-value", "points-liability"})
