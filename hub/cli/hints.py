"""The next step for an error the hub's library raises in its own words.

The library says what is wrong ("member 99 does not exist"); at the command line the
operator also needs what to do about it, which depends on the commands there are, so the
CLI adds it here rather than the library naming CLI commands."""

from __future__ import annotations

import re
from typing import Final

from hub.admin.booking import REASON_LEN_MIN

HINTS: Final = (
    (r"^member -?\d+ does not exist", "find the member's id with `tapcard hub member search TEXT`"),
    (r"^card \S+ does not exist", "the member's cards are in `tapcard hub member show ID`"),
    (r"^(device \S+ (does not exist|is not registered)|no device )",
     "the devices are in `tapcard hub device list`"),
    (r"^(branch \S+ does not exist|no branch )",
     "add it with `tapcard hub branch add ID --name NAME`"),
    (r"^no product ", "find the SKU with `tapcard hub product list --search TEXT`"),
    (r"^(no active staff |\S+ is not an active manager)",
     "the staff are in `tapcard hub staff list`"),
    (r"^rule set \d+ is not loaded", "`tapcard hub rules show` prints the latest"),
    (r"needs a reason$", f"give --reason of at least {REASON_LEN_MIN} characters"),
    (r"is not a voucher code", "give the code as printed on the voucher"),
    (r"^branch \S+ exists$", "give another id, or use the branch as it is"),
)  # fmt: skip


def with_next_step(message: str) -> str:
    """`message`, and after a colon what to do next when the table knows it."""
    for pattern, hint in HINTS:
        if re.search(pattern, message):
            return f"{message}: {hint}"
    return message
