"""The last receipts a device printed, kept in its document store for a reprint."""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

from tapcard.receipts.content import Printout

RECEIPTS_DOC: Final = "receipts"
RECEIPTS_KEPT_MAX: Final = 20


class ReceiptStore:
    """On the device's `load_doc` / `save_doc` (atomic JSON; survives a restart)."""

    def __init__(self, load: Callable[[str], object], save: Callable[[str, object], None]) -> None:
        self._load, self._save = load, save

    def recent(self) -> list[Printout]:
        """Newest first."""
        doc = self._load(RECEIPTS_DOC)
        if not isinstance(doc, list):
            return []
        return [Printout.from_doc(d) for d in doc if isinstance(d, dict)]

    def keep(self, printout: Printout) -> None:
        docs = [p.to_doc() for p in self.recent()]
        self._save(RECEIPTS_DOC, [printout.to_doc(), *docs][:RECEIPTS_KEPT_MAX])

    def last(self) -> Printout | None:
        recent = self.recent()
        return recent[0] if recent else None
