"""Can the fleet read this rule set? `tapcard hub rules load` asks before storing it.

Devices report their software version in every heartbeat (devices.software_version). A
rule set needs at least
- the `min_software_version` its JSON file declares (a top-level key next to the rule
  set's own fields, for a change the hub cannot see, such as a new meaning of a field), and
- the version that introduced each rule-set feature it uses (`FEATURES`: a field that
  older devices would silently ignore, since unknown fields are skipped when decoding).
Loading is refused, naming the devices, while an active device runs older software or has
never reported one; `--force` loads anyway (those devices keep their current rules only
if they refuse what they cannot read, so upgrade them first).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

import msgspec
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from hub import db
from tapcard.domain.rules import RuleSet
from tapcard.errors import ValidationError

DECLARED_KEY: Final = "min_software_version"
LISTED_DEVICES_MAX: Final = 10  # the message names this many, then counts the rest
_VERSION_RE = re.compile(r"(\d+)(?:\.(\d+))?(?:\.(\d+))?")


@dataclass(frozen=True, slots=True)
class Feature:
    name: str
    since: str  # first device software version that reads it
    used: Callable[[RuleSet], bool]


# Every rule-set field a device reads existed in 0.1.0, the first release. A field added
# later gets an entry here with the release that first reads it, for example:
#   Feature("catalog.bay_relay", "0.3.0", lambda r: any(i.relay for i in r.catalog)),
FEATURES: Final[tuple[Feature, ...]] = ()

_loose = msgspec.json.Decoder(dict[str, object])


def parse_version(text: str) -> tuple[int, int, int] | None:
    """(major, minor, patch) of "1.2.3", "1.2", "1.2.3.dev4"; None when not a version."""
    found = _VERSION_RE.match(text.strip())
    if found is None:
        return None
    major, minor, patch = found.groups()
    return int(major), int(minor or 0), int(patch or 0)


def required_version(rules: RuleSet, data: bytes) -> str | None:
    """The oldest device software that reads this rule set, or None (any version)."""
    needs: list[str] = [f.since for f in FEATURES if f.used(rules)]
    try:
        declared = _loose.decode(data).get(DECLARED_KEY)
    except msgspec.DecodeError:
        declared = None  # parse_rules has already accepted it; a top-level list, say
    if declared is not None:
        if not isinstance(declared, str) or parse_version(declared) is None:
            raise ValidationError(f'{DECLARED_KEY} must be a version such as "0.2.0"')
        needs.append(declared)
    if not needs:
        return None
    return max(needs, key=lambda v: parse_version(v) or (0, 0, 0))


def devices_behind(engine: Engine, version: str) -> list[tuple[str, str]]:
    """Active devices whose reported software is older than `version` (or unknown)."""
    wanted = parse_version(version)
    assert wanted is not None
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(db.devices.c.id, db.devices.c.software_version)
            .where(db.devices.c.state == "active")
            .order_by(db.devices.c.id)
        ).all()
    behind = []
    for row in rows:
        have = parse_version(row.software_version or "")
        if have is None or have < wanted:
            behind.append((row.id, row.software_version or "never reported"))
    return behind


def check_fleet_reads(engine: Engine, rules: RuleSet, data: bytes, force: bool = False) -> None:
    """Raise ValidationError when an active device cannot read this rule set."""
    version = required_version(rules, data)
    if version is None or force:
        return
    behind = devices_behind(engine, version)
    if not behind:
        return
    named = ", ".join(f"{d} ({v})" for d, v in behind[:LISTED_DEVICES_MAX])
    more = len(behind) - LISTED_DEVICES_MAX
    raise ValidationError(
        f"rule set {rules.version} needs device software {version} or newer, but "
        f"{len(behind)} active device(s) run older: {named}"
        + (f" and {more} more" if more > 0 else "")
        + ". Upgrade them first (see `tapcard hub device list`), revoke retired ones, "
        "or load with --force"
    )
