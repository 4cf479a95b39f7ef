"""Rule sets by version: loaded once, immutable, cached in memory; and the effective
rules of a branch or device (tapcard.domain.overrides), cached by version, branch and
device, with the stamp each transfer decided with them carries."""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass, replace
from typing import Protocol

import msgspec
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from hub import db
from hub.campaign_rules import unknown_campaign_fields
from tapcard.domain.overrides import effective_rules, validate_overrides
from tapcard.domain.rules import RuleSet, validate_rules
from tapcard.errors import NotFoundError, ValidationError

RULES_CACHE_VERSIONS_MAX = 64
# Effective rule sets kept: (version, branch, device) of every device of a large chain
# for a few versions; past it the cache starts again (a merge is microseconds).
EFFECTIVE_CACHE_MAX = 20_000
EFFECTIVE_DIGEST_HEX_CHARS = 16  # of SHA-256: 64 bits name one merge among a chain's

_rules_decoder = msgspec.json.Decoder(RuleSet)


def parse_rules(data: bytes) -> RuleSet:
    """Decode and validate a rule set document (JSON); raises ValidationError."""
    try:
        rules = _rules_decoder.decode(data)
    except msgspec.DecodeError as exc:
        raise ValidationError(f"rule set is not valid: {exc}") from None
    errors = unknown_campaign_fields(data) + validate_rules(rules) + validate_overrides(rules)
    if errors:
        raise ValidationError("rule set is not valid: " + "; ".join(errors))
    return rules


def store_rules(conn: Connection, rules: RuleSet, actor: str) -> None:
    """Insert a new version; versions only grow and never change once loaded."""
    latest = conn.execute(sa.select(sa.func.max(db.rule_sets.c.version))).scalar()
    if latest is not None and rules.version <= latest:
        raise ValidationError(
            f"rule set version {rules.version} must be above {latest}: the hub holds "
            f'versions up to {latest}; set "version": {latest + 1} in the file and load it again'
        )
    _check_override_targets(conn, rules)
    now_ms = db.clock_of(conn).now_ms()
    conn.execute(
        db.rule_sets.insert().values(
            version=rules.version,
            name=rules.name,
            body=msgspec.json.encode(rules).decode(),
            loaded_ms=now_ms,
            actor=actor,
        )
    )
    for item in rules.catalog:
        if item.stock is None:
            continue
        exists = conn.execute(sa.select(db.stock.c.item).where(db.stock.c.item == item.code))
        if exists.first() is None:
            conn.execute(db.stock.insert().values(item=item.code, remaining=item.stock))


def _check_override_targets(conn: Connection, rules: RuleSet) -> None:
    """An override must name a branch or device the hub knows, and fit its branch's."""
    if not rules.overrides:
        return
    branches = set(conn.execute(sa.select(db.branches.c.id)).scalars())
    devices = {
        str(row.id): str(row.branch_id)
        for row in conn.execute(sa.select(db.devices.c.id, db.devices.c.branch_id))
    }
    errors = validate_overrides(rules, branches, devices)
    if errors:
        raise ValidationError("rule set is not valid: " + "; ".join(errors))


class _Versioned(Protocol):
    @property
    def rules_version(self) -> int: ...


class Sent(Protocol):
    """What the stamp needs of an intent as the hub received it (hub.ledger.Incoming)."""

    @property
    def intent(self) -> _Versioned: ...
    @property
    def branch_id(self) -> str: ...
    @property
    def device_id(self) -> str: ...


@dataclass(frozen=True, slots=True)
class Effective:
    """The rules one branch or device decides with, and their stamp: '' for the
    chain's own rules, else the override(s) applied and the digest of the result."""

    rules: RuleSet
    stamp: str


def stamped(rules: RuleSet, branch: str, device: str) -> Effective:
    """effective_rules with its digest: SHA-256 of the merged rule set's JSON with
    `effective` naming the overrides, so an auditor rebuilds it from the stored version
    (`tapcard hub rules show --branch B --device D` prints the same)."""
    merged = effective_rules(rules, branch, device)
    if not merged.effective:
        return Effective(merged, "")
    digest = hashlib.sha256(msgspec.json.encode(merged)).hexdigest()[:EFFECTIVE_DIGEST_HEX_CHARS]
    stamp = f"{merged.effective}@{digest}"
    return Effective(replace(merged, effective=stamp), stamp)


def effective_for(conn: Connection, rules: RuleSet, branch: str, device: str) -> Effective:
    """The effective rules of a branch or device the hub knows (the device's branch by
    default, and it must be the device's); refused by name otherwise."""
    if device:
        row = conn.execute(
            sa.select(db.devices.c.branch_id).where(db.devices.c.id == device)
        ).first()
        if row is None:
            raise NotFoundError(f"the hub has no device {device!r}")
        if branch and branch != row.branch_id:
            raise ValidationError(f"device {device} is of branch {row.branch_id}, not {branch}")
        branch = str(row.branch_id)
    known = conn.execute(sa.select(db.branches.c.id).where(db.branches.c.id == branch)).first()
    if known is None:
        raise NotFoundError(f"the hub has no branch {branch!r}")
    return stamped(rules, branch, device)


class RulesCache:
    """Rule sets by version. Versions are immutable, so caching them is always safe,
    also with several hub workers."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._by_version: dict[int, RuleSet] = {}
        self._effective: dict[tuple[int, str, str], Effective] = {}
        self._lock = threading.Lock()

    def effective(self, version: int, branch: str, device: str) -> Effective | None:
        """The effective rules of `version` for a device of `branch`: one dict lookup
        per intent once the batch's first has merged them; None: unknown version."""
        key = (version, branch, device)
        found = self._effective.get(key)
        if found is not None:
            return found
        rules = self.get(version)
        found = stamped(rules, branch, device) if rules is not None else None
        with self._lock:
            if len(self._effective) >= EFFECTIVE_CACHE_MAX:
                self._effective.clear()
            if found is not None:  # an unknown version may be loaded next
                self._effective[key] = found
        return found

    def for_device(self, version: int, branch: str, device: str) -> RuleSet | None:
        """What the hub decides a device's intent with: its branch's and its own
        effective rules of the intent's version (None: unknown version)."""
        found = self.effective(version, branch, device)
        return found.rules if found is not None else None

    def stamp_for(self, sent: Sent) -> str | None:
        """The stamp of the effective rules an intent was decided with; None: the
        chain's own (or an unknown version, which decides nothing)."""
        found = self.effective(sent.intent.rules_version, sent.branch_id, sent.device_id)
        return found.stamp or None if found is not None else None

    def get(self, version: int) -> RuleSet | None:
        with self._lock:
            cached = self._by_version.get(version)
        if cached is not None:
            return cached
        with self._engine.connect() as conn:
            body = conn.execute(
                sa.select(db.rule_sets.c.body).where(db.rule_sets.c.version == version)
            ).scalar()
        if body is None:
            return None
        rules = _rules_decoder.decode(body)
        with self._lock:
            if len(self._by_version) >= RULES_CACHE_VERSIONS_MAX:
                self._by_version.pop(min(self._by_version))
            self._by_version[version] = rules
        return rules

    def latest_version(self) -> int:
        with self._engine.connect() as conn:
            version = conn.execute(sa.select(sa.func.max(db.rule_sets.c.version))).scalar()
        return int(version or 0)

    def latest(self) -> RuleSet:
        version = self.latest_version()
        rules = self.get(version) if version else None
        if rules is None:
            raise NotFoundError("no rule set is loaded: run `tapcard hub rules load FILE`")
        return rules
