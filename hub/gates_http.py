"""The gates' HTTP endpoint, beside MQTT, for third-party car park systems that only
speak HTTP (docs/protocol/gates-openapi.json).

Mounted on the dashboard's server at `PREFIX`, so it has the dashboard's body limit
(hub/web/bodylimit.py) and its throttle (hub/web/throttle.py): a client address that
sends `WRONG_KEYS_MAX` wrong keys within the window is locked out (429) for the
lockout, in the same table as the logins. Each request names its gate by the gate's
key (`Authorization: Bearer tgk_...`, hub/gate_keys.py); the gate's kind and branch
come from the registry, never from the request.

`POST /consume` takes a voucher code (the QR), a member's card id, or the member's
dynamic QR from the member's page (hub/member_qr.py, taken once, 60 s) and answers
through hub/gates.py, the function the MQTT gates use: open for the paid time, or a
refusal with a stable reason and its text in the asked language (Accept-Language,
Chinese first). A replay of a request the gate already got a yes for, within the retry
window, gets the same yes marked `repeat` (the car park system lost the answer); later
it is "already used". `POST /check` answers the same and consumes nothing.
"""

from __future__ import annotations

import json
import sys
from typing import Annotated, Final

from fastapi import Depends, FastAPI, Header, HTTPException, Request
from pydantic import BaseModel, ConfigDict, Field

from hub import gate_keys, gates, member_qr
from hub.app import Hub
from hub.web import throttle
from tapcard import __version__
from tapcard.domain.rules import CatalogKind

PREFIX: Final = "/gates/v1"
WRONG_KEYS_MAX: Final = 20  # per client address within the login window
CODE_CHARS_MAX: Final = member_qr.CODE_CHARS_MAX  # a member QR is the longest code
MINUTES_PER_PARKING_UNIT: Final = 60  # a parking voucher's unit is one hour
LANGS: Final = ("zh", "en")

# reason -> (Chinese, English): what the car park system may show the driver.
REASONS: Final[dict[str, tuple[str, str]]] = {
    "": ("请通行", "please drive through"),
    "not_allowed": ("此券不能在此使用", "this voucher is not for this gate"),
    "not_found": ("没有这张券", "no such voucher"),
    "invalid": ("无法识别的券码", "this is not a voucher code"),
    "conflict": ("此券已使用或已作废", "this voucher was already used or voided"),
    "voucher_expired": ("此券已过期", "this voucher has expired"),
    "voucher_wrong_branch": ("此券不能在本门店使用", "this voucher is for another branch"),
    "voucher_wrong_device": ("此券不能在此设备使用", "this voucher is not for this device"),
    "card_unknown": ("这不是会员卡", "this is not a membership card"),
    "card_not_active": ("此卡不可用", "this card cannot be used"),
    "no_voucher": ("此卡没有可在此使用的券", "this card holds no voucher for this gate"),
    "qr_expired": ("会员码已过期请刷新", "this member code has expired: refresh it"),
    "qr_used": ("会员码已使用请刷新", "this member code was already used: refresh it"),
}


class GateAsk(BaseModel):
    """A scanned voucher code, or a member's card id: exactly one of them."""

    model_config = ConfigDict(extra="forbid")
    code: str | None = Field(
        None, max_length=CODE_CHARS_MAX, description="the voucher's QR or a member's QR"
    )
    card: str | None = Field(None, max_length=CODE_CHARS_MAX, description="a member card id")


class GateAnswer(BaseModel):
    open: bool = Field(description="open the barrier (or start the wash)")
    open_minutes: int = Field(description="the paid parking time; 0 for a wash or a refusal")
    reason: str = Field(description="empty when open; else a stable word (see REASONS)")
    message: str = Field(description="the reason in the asked language")
    lang: str
    voucher: str = ""
    item: str = ""
    units: int = 0
    repeat: bool = Field(False, description="a replay within the retry window: same yes")


def lang_of(accept_language: str) -> str:
    """The first of LANGS the header names; Chinese when it names neither."""
    for part in accept_language.split(","):
        tag = part.split(";")[0].strip().lower()[:2]
        if tag in LANGS:
            return tag
    return LANGS[0]


def answer(reason: str, lang: str, done: gates.Consumed | None = None) -> GateAnswer:
    zh, en = REASONS.get(reason, ("拒绝", "refused"))
    message = zh if lang == "zh" else en
    if done is None:
        return GateAnswer(
            open=False, open_minutes=0, reason=reason, message=message, lang=lang, repeat=False
        )
    parking = done.kind == CatalogKind.PARKING.value
    return GateAnswer(
        open=True,
        open_minutes=done.units * MINUTES_PER_PARKING_UNIT if parking else 0,
        reason="",
        message=message,
        lang=lang,
        voucher=done.code,
        item=done.item,
        units=done.units,
        repeat=done.repeat,
    )


def _hub(request: Request) -> Hub:
    hub: Hub | None = request.app.state.hub
    assert hub is not None, "an app made for its document only"
    return hub


def gate_of(request: Request, authorization: Annotated[str, Header()] = "") -> str:
    """The gate the request's key names; 401 for a wrong key, 429 while locked."""
    hub = _hub(request)
    address = f"gatekey:{request.client.host if request.client else ''}"
    with hub.transaction() as conn:
        wait_s = throttle.locked_s(conn, address)
        if wait_s:
            headers = {"Retry-After": str(wait_s)}
            raise HTTPException(429, f"too many wrong keys: try in {wait_s} s", headers)
        scheme, _, key = authorization.partition(" ")
        device = gate_keys.device_of_key(conn, key) if scheme.lower() == "bearer" else None
        if device is None:
            throttle.count_failure(conn, address, WRONG_KEYS_MAX)
    if device is None:
        raise HTTPException(401, "a gate key is needed", {"WWW-Authenticate": "Bearer"})
    return device


Gate = Annotated[str, Depends(gate_of)]


def _decide(request: Request, gate: str, ask: GateAsk, lang: str, dry: bool) -> GateAnswer:
    if (ask.code is None) == (ask.card is None):
        raise HTTPException(422, "send a code or a card, not both")
    hub = _hub(request)
    try:
        with hub.transaction() as conn:
            card, text = ask.card is not None, ask.card or ask.code or ""
            if not card and member_qr.is_member_qr(text):
                # The member's page QR stands for the card (hub/member_qr.py): used once
                # when this answer commits, only looked at for /check.
                now_ms = hub.clock.now_ms()
                if dry:
                    text = member_qr.peek(hub.secrets, text, now_ms)
                else:
                    text = member_qr.redeem(conn, hub.secrets, text, now_ms).card_id
                card = True
            if dry:
                done = gates.check(conn, hub, gate, text, card=card)
            elif card:
                done = gates.consume_card(conn, hub, gate, text)
            else:
                done = gates.consume(conn, hub, gate, text)
    except member_qr.MemberQrRefused as exc:
        return answer(exc.reason, lang)
    except gates.GateRefused as exc:
        return answer(exc.error, lang)
    return answer("", lang, done)


def create_gates_app(hub: Hub | None) -> FastAPI:
    """The endpoint as its own ASGI app (its own OpenAPI document), mounted at PREFIX;
    with no hub, only its document."""
    app = FastAPI(
        title="tapcard gates",
        version=__version__,
        description=__doc__,
        docs_url=None,
        redoc_url=None,
        openapi_url="/openapi.json",
        servers=[{"url": PREFIX}],
        root_path_in_servers=False,
    )
    app.state.hub = hub

    @app.post("/consume", response_model=GateAnswer)
    def consume(
        request: Request, gate: Gate, ask: GateAsk, accept_language: Annotated[str, Header()] = ""
    ) -> GateAnswer:
        """Consume the voucher (or the card's oldest voucher that counts here)."""
        return _decide(request, gate, ask, lang_of(accept_language), dry=False)

    @app.post("/check", response_model=GateAnswer)
    def check(
        request: Request, gate: Gate, ask: GateAsk, accept_language: Annotated[str, Header()] = ""
    ) -> GateAnswer:
        """What /consume would answer; nothing is consumed."""
        return _decide(request, gate, ask, lang_of(accept_language), dry=True)

    return app


def openapi_text(app: FastAPI) -> str:
    """The document as committed: sorted keys, two spaces, a final newline."""
    return json.dumps(app.openapi(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


if __name__ == "__main__":  # python -m hub.gates_http > docs/protocol/gates-openapi.json
    sys.stdout.write(openapi_text(create_gates_app(None)))
