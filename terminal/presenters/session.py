"""Who works at the terminal: login by PIN or staff card, the offline login cache, and
the lock.

Staff log in with a PIN or by tapping a staff card (card id `S-<staff id>`, its
credential verified with the issuer key like a member card's). Both go one way: online
the terminal first takes a one-time challenge from the hub (`LoginChallenge`), then the
hub checks the credential (`StaffLogin`: the PIN, sealed to the hub's key with that
challenge so that no subscriber can read or replay it; `StaffCardLogin`: the card's
owner is active) and answers with a session that later staff requests and intents carry;
the terminal caches that yes. Offline only the cached credential of the same kind lets
the same person in (`LoginCache`), and intents say so (`staff_offline`). The terminal
locks itself after LOCK_AFTER_S without a touch.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from tapcard.domain.model import STAFF_CARD_PREFIX, StaffRole
from tapcard.ui.worker import Tap
from tapcard.wire import staff_messages as sm
from tapcard.wire.keys import seal_pin
from terminal.presenters.desk import STAFF_ERRORS, STAFF_TIMEOUT_S, Desk
from terminal.presenters.login_cache import CachedLogin, LoginCache, offline_pin_matches
from terminal.presenters.views import Staff

OFFLINE_UNCHECKED: Final = "Offline: this login has not been checked by the hub yet"


@dataclass(frozen=True, slots=True)
class Credential:
    """What a login shows: a PIN or a staff card's chip (the other one is empty); `op`
    makes the login for the hub's challenge."""

    op: Callable[[str], sm.StaffLogin | sm.StaffCardLogin]
    refused: str  # the message when the hub refuses without a known reason
    pin: str = ""
    card_uid: str = ""

    def matches(self, entry: CachedLogin) -> bool:
        if self.pin:
            return offline_pin_matches(self.pin, entry.pin)
        return hmac.compare_digest(entry.card_uid, self.card_uid)


class SessionPresenter:
    def __init__(self, desk: Desk) -> None:
        self.desk = desk

    def login(self, staff_id: str, pin: str) -> None:
        staff_id, pin = staff_id.strip().lower(), pin.strip()
        if not staff_id:  # not "Wrong PIN": nothing was checked yet
            self.desk.show_login(self.desk.t("Enter your staff ID"))
            return
        if not pin.isdigit():
            self.desk.show_login(self.desk.t("Enter your PIN (digits)"))
            return
        hub_key, device = self.desk.port.bundle.hub_key, self.desk.port.bundle.device_id

        def sealed(challenge: str) -> sm.StaffLogin:
            seal = sm.PinSeal(pin=pin, challenge=challenge, device=device, staff=staff_id)
            return sm.StaffLogin(sealed_pin=seal_pin(hub_key, seal))

        self._submit(staff_id, Credential(sealed, "Wrong PIN", pin=pin))

    def card_login(self, tap: Tap) -> None:
        """A staff card on the reader at the login screen."""
        staff_id = tap.card_id[len(STAFF_CARD_PREFIX) :].lower()
        uid = tap.raw.uid.hex() if tap.raw is not None else ""
        if not staff_id or not uid:
            self.desk.show_login(self.desk.t("Unknown staff member"))
            return
        card_id = tap.card_id

        def with_challenge(challenge: str) -> sm.StaffCardLogin:
            return sm.StaffCardLogin(card_id=card_id, uid=uid, challenge=challenge)

        self._submit(staff_id, Credential(with_challenge, "Unknown staff member", card_uid=uid))

    def lock(self) -> None:
        self.desk.sign_out(self.desk.t("Locked"))

    def _submit(self, staff_id: str, credential: Credential) -> None:
        self.desk.worker.submit(lambda: self._log_in(staff_id, credential), self._logged_in)

    def _log_in(self, staff_id: str, credential: Credential) -> Staff | str:
        """The hub's yes or no when online, else the cache's (worker thread)."""
        d = self.desk
        reply = self._ask_hub(staff_id, credential) if d.port.is_online() else None
        cache = LoginCache(d.port)
        if reply is not None:
            if reply.error:
                cache.forget(staff_id)
                return STAFF_ERRORS.get(reply.error, credential.refused)
            cache.remember(
                staff_id,
                reply.name,
                reply.role,
                d.wall.now_ms(),
                pin=credential.pin,
                card_uid=credential.card_uid,
            )
            return Staff(staff_id, reply.name, StaffRole(reply.role), False, reply.session)
        entry = cache.fresh(staff_id, d.wall.now_ms())
        if entry is not None and credential.matches(entry):
            return Staff(staff_id, entry.name, StaffRole(entry.role), offline=True)
        return OFFLINE_UNCHECKED

    def _ask_hub(self, staff_id: str, credential: Credential) -> sm.StaffReply | None:
        """The challenge, then the login under it; None when the hub did not answer."""
        link = self.desk.link
        reply = link.request(staff_id, sm.LoginChallenge(), STAFF_TIMEOUT_S)
        if reply is None or reply.error:
            return reply
        if not reply.challenge:
            return None  # a hub that does not know challenges: as if offline
        return link.request(staff_id, credential.op(reply.challenge), STAFF_TIMEOUT_S)

    def _logged_in(self, result: Staff | str | Exception) -> None:
        d = self.desk
        if isinstance(result, Staff):
            d.sign_in(result)
            d.touch()
            d.home()
            return
        text = result if isinstance(result, str) else "Wrong PIN"
        d.show_login(d.t(text))
