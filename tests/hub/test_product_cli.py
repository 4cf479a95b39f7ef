"""`tapcard hub product add | list | import | remove` (SQLite through the CLI): amounts are
typed and shown in yuan, a CSV with a bad row imports nothing and names the row, and
every change is a new catalog version, audited."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa

from hub import db
from tests.hub.test_cli import Cli, hub_cli, open_hub

__all__ = ["hub_cli"]  # the fixture, used by name

CSV = (
    "sku,barcode,name_zh,name_en,category,retail_yuan,points_excluded,price_gold\n"
    "SH-1,6901234567892,洗发水,Shampoo,personal_care,30.00,no,25.50\n"
    "CG-1,,香烟,Cigarettes,tobacco,20,yes,\n"
)


def test_products_from_the_cli(hub_cli: Cli, tmp_path: Path) -> None:
    out = hub_cli.ok(
        "product",
        "add",
        "TE-1",
        "--category",
        "drinks",
        "--retail",
        "12.50",
        "--name-zh",
        "绿茶",
        "--name-en",
        "Green tea",
        "--price",
        "silver=11",
    )
    assert out == "product TE-1 saved: catalog version 1\n"
    bad = tmp_path / "bad.csv"
    bad.write_text(CSV + "XX-1,,x,x,x,1.234,no,\n", encoding="utf-8")
    code, out, _ = hub_cli("product", "import", str(bad))
    assert code == 2
    assert "row 4: '1.234' is not an amount in yuan" in out
    assert "nothing imported" in out
    good = tmp_path / "good.csv"
    good.write_text(CSV, encoding="utf-8")
    assert hub_cli.ok("product", "import", str(good)) == "2 products imported: catalog version 2\n"
    shown = hub_cli.ok("product", "list", "--search", "SH")
    assert "¥30.00" in shown and "gold ¥25.50" in shown and "1 of 1 products" in shown
    listed = hub_cli.json("product", "list")
    assert listed["total"] == 3
    assert {p["sku"]: p["retail_cents"] for p in listed["products"]}["TE-1"] == 1_250
    assert hub_cli.ok("product", "remove", "CG-1") == "product CG-1 removed: catalog version 3\n"
    code, _, err = hub_cli("product", "remove", "CG-1")
    assert code == 2 and err.startswith("error: no product CG-1: find the SKU with")
    assert err.count("\n") == 1  # one line, with the next step
    code, _, err = hub_cli(
        "product", "add", "X", "--category", "c", "--retail", "1", "--price", "vip=1"
    )
    assert code == 2 and "tier vip is not in the rules" in err
    hub = open_hub(hub_cli)
    try:
        with hub.engine.connect() as conn:
            actions = (
                conn.execute(
                    sa.select(db.audit.c.action).where(db.audit.c.action.like("product.%"))
                )
                .scalars()
                .all()
            )
    finally:
        hub.close()
    assert actions == ["product.save", "product.save", "product.remove"]
