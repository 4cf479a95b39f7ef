"""A rule set's campaigns name only fields the hub knows.

Rule sets decode into dataclasses, which pass over fields they do not know: a typo in a
targeted campaign's limit ("budget_cent", "segmnet") would load as a campaign without
that limit and spend without a cap. Loading refuses any campaign field that is not a
`tapcard.domain.rules.Campaign` field, in the chain's campaigns and the overrides'.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import msgspec

from tapcard.domain.rules import Campaign

CAMPAIGN_FIELDS = frozenset(f.name for f in dataclasses.fields(Campaign))


def unknown_campaign_fields(data: bytes) -> list[str]:
    """Every unknown campaign field of a rule set document (JSON), as an error."""
    try:
        doc = msgspec.json.decode(data)
    except msgspec.DecodeError:
        return []  # the typed decoder says what is wrong with it
    if not isinstance(doc, dict):
        return []
    places: list[tuple[str, Any]] = [("", doc.get("campaigns"))]
    for override in doc.get("overrides") or []:
        if isinstance(override, dict):
            where = f"override {override.get('scope')} {override.get('id')!r}: "
            places.append((where, override.get("campaigns")))
    errors = []
    for where, campaigns in places:
        for c in campaigns if isinstance(campaigns, list) else []:
            if isinstance(c, dict):
                errors += [
                    f"{where}campaign {c.get('code')}: unknown field {name!r}"
                    for name in sorted(set(c) - CAMPAIGN_FIELDS)
                ]
    return errors
