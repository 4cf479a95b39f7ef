"""The hub's daily maintenance refreshes every segment (hub/duties.py), once a day."""

from __future__ import annotations

import sqlalchemy as sa

from hub import db, segments
from hub.duties import DailyMaintenance
from hub.segments import SegmentRules
from hub.tags import add_tags
from tests.conftest import Seeded


def test_the_daily_maintenance_refreshes_the_segments(seeded_sqlite: Seeded) -> None:
    hub = seeded_sqlite.hub
    li, ana = seeded_sqlite.members
    with hub.transaction() as conn:
        segments.add(conn, "vip", "贵宾 VIP", SegmentRules(tags_any=["vip"]), "hq")
        segments.add(conn, "all", "全部 Everyone", SegmentRules(), "hq")
        add_tags(conn, li, ["vip"], "hq")
    daily = DailyMaintenance(hub)
    daily.due()
    with hub.engine.connect() as conn:
        assert segments.members_of(conn, "vip") == [li]
        assert segments.members_of(conn, "all") == sorted([li, ana])
        stamps = conn.execute(sa.select(db.segments.c.refreshed_ms)).scalars().all()
    assert all(0 < stamp <= hub.clock.now_ms() for stamp in stamps) and len(stamps) == 2
    with hub.transaction() as conn:
        add_tags(conn, ana, ["vip"], "hq")
    daily.due()  # the same day: done already, nothing refreshed
    with hub.engine.connect() as conn:
        assert segments.members_of(conn, "vip") == [li]
