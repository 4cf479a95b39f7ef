"""Upgrades: the schema from the first revision to the current one, with data; and a rule
set that older devices in the fleet cannot read is refused.

Scenario: a hub with members, cards, a device, rules and booked transfers is copied into
a database at revision 0001 (only the columns 0001 had), migrated to head, and every row
is still there, the journal verifies and the hub opens. `serve --migrate` brings an old
schema up by itself. A rule set declaring min_software_version 0.2.0 is refused while a
kiosk reports 0.1.0 (or never reported), with a message naming it, and loads once the
fleet reports 0.2.0 or with --force.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from hub import db
from hub.app import Hub, head_revision, migrate, schema_revision
from hub.config import HubConfig
from hub.db import make_engine
from hub.deploy.commands import migrate_before_serve
from hub.verify import verify_ledger
from launcher.cli import main as tapcard_main
from tapcard import __version__
from tapcard.samples import sample_rules_bytes
from tapcard.wire import messages as m
from tests.conftest import Seeded, seed_hub
from tests.hub.support import Device, purchase

FIRST_REVISION = "0001"


def _book(seeded: Seeded) -> None:
    device = Device(seeded.device_id, seeded.device_key)
    batch = [device.incoming(seeded.cards[0], m.TopUp(amount_cents=5_000))]
    batch += [device.incoming(seeded.cards[i % 2], purchase(2_000 + i)) for i in range(6)]
    results = seeded.hub.ledger.apply_batch(batch)
    assert all(r.accepted for r in results)


def _rows(engine: sa.Engine, table: str, columns: list[str]) -> list[tuple[Any, ...]]:
    typed = db.metadata.tables[table]  # head's types: a 0001 column still exists at head
    with engine.connect() as conn:
        found = conn.execute(sa.select(*[typed.c[c] for c in columns])).all()
    return sorted((tuple(r) for r in found), key=repr)


def _copy_into_first_schema(source: sa.Engine, target: sa.Engine) -> dict[str, list[str]]:
    """Every row of the tables revision 0001 has, restricted to its columns."""
    migrate(target, FIRST_REVISION)
    old = sa.MetaData()
    old.reflect(target)
    copied: dict[str, list[str]] = {}
    with target.begin() as out:
        for table in old.sorted_tables:
            if table.name == "alembic_version":
                continue
            columns = [c.name for c in table.columns]
            rows = [dict(zip(columns, r, strict=True)) for r in _rows(source, table.name, columns)]
            if rows:
                out.execute(table.insert(), rows)
            copied[table.name] = columns
    return copied


def test_first_schema_to_head_keeps_the_data(db_url: str, tmp_path: Path) -> None:
    source_config = HubConfig(tmp_path / "src", f"sqlite:///{tmp_path / 'src.sqlite3'}", None)
    seeded = seed_hub(source_config)
    _book(seeded)
    target = make_engine(db_url)
    try:
        copied = _copy_into_first_schema(seeded.hub.engine, target)
        assert schema_revision(target) == FIRST_REVISION
        assert sum(len(_rows(target, t, c)) for t, c in copied.items()) > 20
        migrate(target)
        assert schema_revision(target) == head_revision()
        for table, columns in copied.items():
            assert _rows(target, table, columns) == _rows(seeded.hub.engine, table, columns), table
        with target.connect() as conn:
            report = verify_ledger(conn)
            transfers = conn.execute(sa.select(sa.func.count()).select_from(db.transfers))
            assert transfers.scalar_one() == 7
        assert report.errors == []
    finally:
        target.dispose()
        seeded.hub.close()
    hub = Hub.open(HubConfig(source_config.data_dir, db_url, None))
    assert hub.rules.latest().version == 1
    hub.close()


def test_serve_migrate_brings_an_old_schema_up(tmp_path: Path) -> None:
    config = HubConfig(tmp_path / "hub", f"sqlite:///{tmp_path / 'hub.sqlite3'}", None)
    Hub.init(config).close()
    engine = make_engine(config.db_url)
    migrate(engine, FIRST_REVISION)  # a fresh file at the first revision
    engine.dispose()
    (tmp_path / "hub.sqlite3").unlink()
    engine = make_engine(config.db_url)
    migrate(engine, FIRST_REVISION)
    assert schema_revision(engine) == FIRST_REVISION
    engine.dispose()
    migrate_before_serve(config)
    hub = Hub.open(config)  # refuses anything but head
    hub.close()


def _set_version(seeded: Seeded, device_id: str, version: str) -> None:
    with seeded.hub.transaction() as conn:
        conn.execute(
            db.devices.update().where(db.devices.c.id == device_id).values(software_version=version)
        )


def _rules_file(tmp_path: Path, version: int, min_software: str | None) -> Path:
    doc = json.loads(sample_rules_bytes())
    doc["version"] = version
    if min_software is not None:
        doc["min_software_version"] = min_software
    path = tmp_path / f"rules-{version}.json"
    path.write_text(json.dumps(doc))
    return path


def test_rules_older_devices_cannot_read_are_refused(
    seeded_sqlite: Seeded, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = seeded_sqlite.hub.config

    def load(path: Path, *extra: str) -> int:
        argv = ["hub", "--data", str(config.data_dir), "--db", config.db_url]
        return tapcard_main([*argv, "rules", "load", str(path), *extra])

    assert __version__ == "0.1.0"
    seeded_sqlite.add_device("kiosk-2")  # never reported a version
    _set_version(seeded_sqlite, "kiosk-1", __version__)
    assert load(_rules_file(tmp_path, 2, None)) == 0  # no requirement: loads
    capsys.readouterr()
    assert load(_rules_file(tmp_path, 3, "0.2.0")) == 2
    err = capsys.readouterr().err
    assert "needs device software 0.2.0" in err
    assert "kiosk-1 (0.1.0)" in err and "kiosk-2 (never reported)" in err
    assert seeded_sqlite.hub.rules.latest_version() == 2
    _set_version(seeded_sqlite, "kiosk-1", "0.2.0")
    _set_version(seeded_sqlite, "kiosk-2", "0.10.1")
    assert load(_rules_file(tmp_path, 3, "0.2.0")) == 0
    assert load(_rules_file(tmp_path, 4, "1.0")) == 2
    assert load(_rules_file(tmp_path, 4, "1.0"), "--force") == 0
    assert load(_rules_file(tmp_path, 5, "soon")) == 2
    assert "must be a version" in capsys.readouterr().err
