"""A member's tags at the counter (issue 17): "Add tag" / "Remove tag" on the home
screen's member panel take the text typed in its field for the member whose card is
on the reader. The tag is checked here as the wire checks it (1-24 characters, no
space at either end: a typed space at an end is dropped), the confirmation names the
member and the tag, and its Confirm sends MemberTag; the hub (hub/staff_members.py)
audits the change and answers the member's tags after it. Only a manager may: the
hub refuses anyone else ("A manager must do this"), and the buttons are off for them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

from tapcard.wire import staff_messages as sm
from terminal.presenters.confirm import ConfirmPresenter
from terminal.presenters.desk import Desk
from terminal.presenters.views import ReceiptView, Screen

TAG_WRONG: Final = "A tag is 1-24 characters"


def tag_error(text: str) -> str:
    """Why `text` (as typed, spaces at its ends dropped) is no tag; "" when it is one."""
    tag = text.strip()
    if not 1 <= len(tag) <= sm.MEMBER_TAG_CHARS_MAX or not tag.isprintable():
        return TAG_WRONG
    return ""


class TagsPresenter:
    def __init__(self, desk: Desk, confirms: ConfirmPresenter) -> None:
        self.desk, self.confirms = desk, confirms

    def add_tag(self, text: str) -> None:
        self._ask(text, remove=False)

    def remove_tag(self, text: str) -> None:
        self._ask(text, remove=True)

    def _ask(self, text: str, remove: bool) -> None:
        d = self.desk
        card_id = d.card_id() if d.guard() else None
        if card_id is None:
            return
        if wrong := tag_error(text):
            d.message(d.t("Please check the entries"), d.t(wrong))
            return
        op = sm.MemberTag(card_id=card_id, tag=text.strip(), remove=remove)
        self.confirms.tag(op.tag, remove, lambda: d.ask_hub(op, self._done(op)))

    def _done(self, op: sm.MemberTag) -> Callable[[sm.StaffReply], None]:
        def done(reply: sm.StaffReply) -> None:
            d, t = self.desk, self.desk.t
            title = t("Tag removed") if op.remove else t("Tag added")
            rows = (
                t("Tag") + f": {op.tag}",
                t("Tags") + ": " + (_joined(t.lang, reply.tags) or t("none")),
            )
            d.show(Screen.RECEIPT, ReceiptView(d.header(), title, rows))

        return done


def _joined(lang: str, tags: list[str]) -> str:
    return ("\u3001" if lang == "zh" else ", ").join(tags)  # 、 between Chinese words
