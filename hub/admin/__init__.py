"""The admin API's surface: HQ operations on members, cards, devices and the ledger.

The CLI, the dashboard, the staff terminals' requests and the tests call these as
`from hub import admin; admin.<name>(...)`. Each name lives in the module of its noun:
settings, audit, devices (and branches), members, cards, denylist, fees, booking
(transfers booked at HQ), vouchers and snapshot (the card read model for devices).
Every change writes an audit row with its actor.
"""

from __future__ import annotations

from hub.admin.audit import audit
from hub.admin.booking import REASON_LEN_MIN, book_admin, member_credits, reverse_points
from hub.admin.card_accounts import person_cards
from hub.admin.cards import (
    CARD_ID_PREFIX,
    issue_card,
    renew_card,
    replace_card,
    report_lost,
    require_card,
)
from hub.admin.denylist import DENYLIST_VERSION_KEY, deny, denylist_cards, denylist_version
from hub.admin.devices import add_branch, add_device, revoke_device
from hub.admin.duplicates import DuplicateMemberError, member_duplicates
from hub.admin.fees import fee_legs, joining_fee
from hub.admin.members import (
    SEARCH_RESULTS_MAX,
    NewMember,
    add_member,
    member_history,
    member_view,
    require_member,
    search_members,
    validate_new_member,
)
from hub.admin.merge import merge_members, merge_preview
from hub.admin.profiles import ProfileChange, edit_member
from hub.admin.settings import get_setting, set_setting
from hub.admin.snapshot import card_snapshot
from hub.admin.vouchers import use_voucher

__all__ = [
    "CARD_ID_PREFIX",
    "DENYLIST_VERSION_KEY",
    "REASON_LEN_MIN",
    "SEARCH_RESULTS_MAX",
    "DuplicateMemberError",
    "NewMember",
    "ProfileChange",
    "add_branch",
    "add_device",
    "add_member",
    "audit",
    "book_admin",
    "card_snapshot",
    "deny",
    "denylist_cards",
    "denylist_version",
    "edit_member",
    "fee_legs",
    "get_setting",
    "issue_card",
    "joining_fee",
    "member_credits",
    "member_duplicates",
    "member_history",
    "member_view",
    "merge_members",
    "merge_preview",
    "person_cards",
    "renew_card",
    "replace_card",
    "report_lost",
    "require_card",
    "require_member",
    "reverse_points",
    "revoke_device",
    "search_members",
    "set_setting",
    "use_voucher",
    "validate_new_member",
]
