"""Card programs: category cards (百货卡, 餐饮卡, ...) and co-branded cards.

Each such card is its own points account (the hub gives it an account holder of its
own, linked to the person: hub/admin/card_accounts.py), so its points never combine
with the person's member card or another program's card. The program says where the
card earns: on sale lines of its categories and, for a co-branded card, at its
partners' branches. What it does not cover is paid as usual and earns nothing.
docs/rules.md "Card programs".
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from tapcard.domain.model import CardKind

PROGRAMS_MAX = 50
PROGRAM_CATEGORIES_MAX = 100
PROGRAM_PARTNERS_MAX = 100
PROGRAM_CODE_CHARS_MAX = 32  # the hub's cards.program column
PROGRAM_KINDS = frozenset({CardKind.CATEGORY, CardKind.COBRANDED})
_CODE = re.compile(r"^[a-z0-9][a-z0-9_-]*$")


@dataclass(frozen=True, slots=True)
class CardProgram:
    code: str  # stored with each card of the program
    kind: CardKind  # CATEGORY or COBRANDED
    name: str = ""  # e.g. 餐饮卡
    # Sale categories that earn on the card (empty: every category the rule set's
    # earn.excluded_categories does not exclude).
    categories: tuple[str, ...] = ()
    # The partner's branch ids where the card earns (empty: every branch).
    partners: tuple[str, ...] = ()
    cents_per_point: int = 0  # 0: the rule set's earn.cents_per_point

    def earns(self, category: str, branch: str) -> bool:
        """Whether a line of this category sold at this branch earns on the card."""
        if self.categories and category not in self.categories:
            return False
        return not self.partners or branch in self.partners


# A card whose program the rule set no longer has earns nothing: its points stay apart
# rather than earning on everything.
NO_PROGRAM = CardProgram(code="", kind=CardKind.CATEGORY, categories=("",), partners=("",))


def find_program(programs: Sequence[CardProgram], code: str) -> CardProgram | None:
    """The program a card of `code` belongs to; None for a card of no program ("")."""
    if not code:
        return None
    for program in programs:
        if program.code == code:
            return program
    return NO_PROGRAM


def validate_programs(programs: Sequence[CardProgram]) -> list[str]:
    errors: list[str] = []
    if len(programs) > PROGRAMS_MAX:
        errors.append(f"at most {PROGRAMS_MAX} card programs")
    codes = [p.code for p in programs]
    if len(set(codes)) != len(codes):
        errors.append("card program codes must be unique")
    for p in programs:
        what = f"card program {p.code!r}"
        if len(p.code) > PROGRAM_CODE_CHARS_MAX or not _CODE.match(p.code):
            errors.append(f"{what}: the code is 1..{PROGRAM_CODE_CHARS_MAX} of a-z, 0-9, _ and -")
        if p.kind not in PROGRAM_KINDS:
            errors.append(f"{what}: kind is category or cobranded, not {p.kind.value}")
        if not p.categories and not p.partners:
            errors.append(f"{what}: name the categories or partners it earns on")
        if len(p.categories) > PROGRAM_CATEGORIES_MAX or not all(p.categories):
            errors.append(f"{what}: at most {PROGRAM_CATEGORIES_MAX} categories, none empty")
        if len(p.partners) > PROGRAM_PARTNERS_MAX or not all(p.partners):
            errors.append(f"{what}: at most {PROGRAM_PARTNERS_MAX} partner branches, none empty")
        if p.partners and p.kind is not CardKind.COBRANDED:
            errors.append(f"{what}: only a cobranded card has partners")
        if p.cents_per_point < 0:
            errors.append(f"{what}: cents_per_point must be >= 0")
    return errors
