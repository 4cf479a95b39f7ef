"""`tapcard device dead-letters`: the intents the hub set aside, for the person on site.

The hub answers SET_ASIDE (98) to a signed intent it could not book (a poison message,
a body its schema refuses) and keeps that answer as the intent's result: the seq counts
as used, and sending it again gets the same answer. So there is nothing to replay from
the device. What an operator does is look (which card, when, the hub's reason), take it
up with HQ, who holds the same record, and clear the list, which ends the device's
`dead_letter` alarm.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Final

from tapcard.device.store import DeadLetter, DeviceStore
from tapcard.ui import fmt

REASON_SHOWN_MAX: Final = 60  # characters of the hub's message in the table


def _reason(letter: DeadLetter) -> str:
    try:
        result = json.loads(letter.result)
    except ValueError:
        return "?"
    message = str(result.get("message", "")) if isinstance(result, dict) else ""
    return message[:REASON_SHOWN_MAX] or "set aside"


def _print_table(letters: list[DeadLetter], total: int) -> None:
    if not letters:
        print("no dead letters: the hub has set nothing aside")
        return
    print(f"{'seq':>8}  {'when (local)':16}  {'card':12}  {'tx id':36}  reason")
    for letter in letters:
        when = fmt.clock(letter.at_ms)
        print(
            f"{letter.seq:>8}  {when:16}  {letter.card_id:12}  {letter.tx_id:36}  {_reason(letter)}"
        )
    if total > len(letters):
        print(f"... and {total - len(letters)} more (use --json for all)")


def _confirmed(what: str, assume_yes: bool) -> bool:
    if assume_yes:
        return True
    if not sys.stdin.isatty():
        print(f"error: clearing {what} needs --yes when not run at a terminal", file=sys.stderr)
        return False
    return input(f"clear {what}? HQ keeps its own record. [y/N] ").strip().lower() == "y"


def dead_letters_command(data_dir: Path, args: argparse.Namespace) -> int:
    store = DeviceStore(data_dir)
    try:
        total = store.dead_letter_count()
        if args.clear or args.clear_all:
            ids = None if args.clear_all else list(args.clear)
            what = f"all {total} dead letters" if ids is None else f"{len(ids)} dead letter(s)"
            if not _confirmed(what, args.yes):
                return 1
            known = {d.tx_id for d in store.dead_letters(limit=total)} if ids else set()
            unknown = [t for t in ids or () if t not in known]
            if unknown:
                print(f"error: no dead letter {unknown[0]}; list them first", file=sys.stderr)
                return 1
            print(f"cleared {store.clear_dead_letters(ids)} dead letter(s)")
            return 0
        letters = store.dead_letters(limit=total if args.json else 20)
        if args.json:
            rows = [
                {
                    "tx_id": d.tx_id,
                    "seq": d.seq,
                    "card_id": d.card_id,
                    "at_ms": d.at_ms,
                    "result": json.loads(d.result),
                }
                for d in letters
            ]
            print(json.dumps(rows, indent=2))
        else:
            _print_table(letters, total)
        return 0
    finally:
        store.close()
