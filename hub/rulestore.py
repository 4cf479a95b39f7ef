"""Rule sets by version: loaded once, immutable, cached in memory."""

from __future__ import annotations

import threading

import msgspec
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from hub import db
from tapcard.domain.rules import RuleSet, validate_rules
from tapcard.errors import NotFoundError, ValidationError

RULES_CACHE_VERSIONS_MAX = 64

_rules_decoder = msgspec.json.Decoder(RuleSet)


def parse_rules(data: bytes) -> RuleSet:
    """Decode and validate a rule set document (JSON); raises ValidationError."""
    try:
        rules = _rules_decoder.decode(data)
    except msgspec.DecodeError as exc:
        raise ValidationError(f"rule set is not valid: {exc}") from None
    errors = validate_rules(rules)
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


class RulesCache:
    """Rule sets by version. Versions are immutable, so caching them is always safe,
    also with several hub workers."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._by_version: dict[int, RuleSet] = {}
        self._lock = threading.Lock()

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
