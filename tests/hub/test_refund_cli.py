"""`tapcard hub refund` and the refunds in the reports, through the CLI.

Scenario: HQ refunds one line of a counter sale by its receipt number: without --yes it
shows the money back in yuan and books nothing; with --yes and a transfer id it books,
and the same command again books nothing more. Turnover is net of the refund, the
refunds report shows it under the sale's branch with its reason, and `verify` is clean.
"""

from __future__ import annotations

from pathlib import Path

from tapcard.domain.model import Payment
from tests.hub.support import purchase
from tests.hub.test_cli import Cli, hub_cli, kiosk_and_card, open_hub

__all__ = ["hub_cli"]  # the fixture, shared with the CLI tests

REFUND_TX = "019eb01d-c1f7-7297-aca9-6244f9272358"


def test_hq_refunds_a_line_once_and_the_reports_see_it(hub_cli: Cli, tmp_path: Path) -> None:
    device, member_id, card_id = kiosk_and_card(hub_cli, tmp_path)
    hub = open_hub(hub_cli)
    try:
        sale = device.incoming(card_id, purchase(10_000, 5_000, receipt_no="R-9", pay=Payment.CASH))
        [result] = hub.ledger.apply_batch([sale])
    finally:
        hub.close()
    assert result.accepted
    code, out, err = hub_cli("refund", "R-9", "--line", "1:1", "--reason", "broken seal")
    assert code == 1 and "¥45.00 cash paid out" in out and "run again with --yes" in err
    assert hub_cli.json("member", "show", str(member_id))["balances"]["points"] == 135
    args = ("refund", "R-9", "--line", "1:1", "--reason", "broken seal", "--tx-id", REFUND_TX)
    done = hub_cli.json(*args, "--yes")
    assert done["money back"] == "¥45.00 cash paid out" and done["booked now"] is True
    again = hub_cli.json(*args, "--yes")
    assert again["booked now"] is False and again["refund"] == REFUND_TX
    assert hub_cli.json("member", "show", str(member_id))["balances"]["points"] == 90
    # A refund at HQ nets against the sale's branch (shop-1 here), on its own day.
    turnover = {row["branch"]: row["net_cents"] for row in hub_cli.json("report", "turnover")}
    assert turnover == {"shop-1": result.net_cents - 4_500}
    assert hub_cli.json("report", "refunds") == [
        {"branch": "shop-1", "staff": "test", "reason": "broken seal", "refunds": 1,
         "refunded_cents": 4_500, "points": 45, "points_shortfall": 0}
    ]  # fmt: skip
    over = hub_cli.error("refund", "R-9", "--line", "1:1", "--reason", "again", "--yes")
    assert "REFUND_EXCEEDS_SALE" in over
    assert hub_cli.json("verify")["ok"] is True
