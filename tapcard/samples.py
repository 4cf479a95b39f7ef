"""The demo rule set shipped with the package (`sample_rules.json`).

It lives outside `tapcard.domain` because reading a file is I/O, which the domain
package never does.
"""

from __future__ import annotations

from importlib import resources

import msgspec

from tapcard.domain.rules import RuleSet

SAMPLE_RULES_FILE = "sample_rules.json"


def sample_rules_bytes() -> bytes:
    return resources.files("tapcard").joinpath(SAMPLE_RULES_FILE).read_bytes()


def load_sample_rules() -> RuleSet:
    """Decode the demo rule set; msgspec turns ISO strings into dates and lists into tuples."""
    return msgspec.json.decode(sample_rules_bytes(), type=RuleSet)
