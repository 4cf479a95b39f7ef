"""What the demo puts into its hub, once: the sample rules, a branch, a device key and two
members with cards. Both the headless and the windowed demo start from it.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import sqlalchemy as sa

from hub import admin, db
from hub.app import Hub
from hub.rulestore import parse_rules, store_rules
from tapcard.domain.model import CardState
from tapcard.samples import sample_rules_bytes
from tapcard.wire.keys import new_signing_key, signing_key_text, verify_key_text

DEMO_DIR_DEFAULT = "data/demo"
DEMO_BRANCH = "demo-shop"
DEMO_DEVICE = "demo-kiosk"
HUB_CONNECT_TIMEOUT_S = 10.0
ACTOR = "demo"

# The `tapcard` command itself (launcher.cli.main), handed down by the command so that
# the windowed demo provisions its devices as an operator would, without importing it.
RunCommand = Callable[[list[str]], int]


def load_sample_rules(hub: Hub) -> None:
    """The sample rules, once; and again as the next version when a demo folder still
    holds an older sample that the demo loaded (its dated campaigns would have run out)."""
    sample = parse_rules(sample_rules_bytes())
    latest_version = hub.rules.latest_version()
    with hub.transaction() as conn:
        if latest_version == 0:
            store_rules(conn, sample, ACTOR)
            return
        loaded_by = conn.execute(
            sa.select(db.rule_sets.c.actor).where(db.rule_sets.c.version == latest_version)
        ).scalar_one()
        if loaded_by == ACTOR and replace(sample, version=latest_version) != hub.rules.latest():
            store_rules(conn, replace(sample, version=latest_version + 1), ACTOR)


def seed(hub: Hub, data_dir: Path) -> tuple[str, list[str]]:
    """Rules, branch, device key and two members with cards (once)."""
    key_file = data_dir / f"{DEMO_DEVICE}.key"
    load_sample_rules(hub)
    rules = hub.rules.latest()
    with hub.transaction() as conn:
        if not key_file.exists():
            key = new_signing_key()
            admin.add_branch(conn, DEMO_BRANCH, "Demo shop", "demo", ACTOR)
            admin.add_device(
                conn, DEMO_DEVICE, DEMO_BRANCH, "terminal", verify_key_text(key.verify_key), ACTOR
            )
            for name, phone in (("Li Wei", "13800000001"), ("Ana Silva", "13800000002")):
                member_id = admin.add_member(
                    conn,
                    admin.NewMember(name=name, phone=phone, branch_id=DEMO_BRANCH),
                    rules,
                    "",
                    ACTOR,
                )
                admin.issue_card(conn, member_id, rules, ACTOR)
            fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as handle:
                handle.write(signing_key_text(key))
        cards = sorted(
            c["id"]
            for mid in (1, 2)
            for c in admin.member_view(conn, mid)["cards"]
            if c["state"] == CardState.ACTIVE
        )
    return key_file.read_text().strip(), cards
