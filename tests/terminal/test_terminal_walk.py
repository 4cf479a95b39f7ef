"""Every terminal screen as a cashier works it, in Chinese and in English, on the real
offscreen window against a real hub and mosquitto.

Scenario: the walk logs in by touch, taps a tag that is no membership card, then a
member's card, tops up through the confirmation (split over cash and WeChat Pay on it),
is refused a spend above the stored value, chooses the hours of parking, looks at the
car wash, rings up a sale (its campaign by name), searches, opens the profile, the
registration, renewal (to its confirmation), backfill, reversal (to its confirmation),
refund (to its receipt), the shift, reports a card lost (whose card it is shown first)
and is refused a top-up on it, then locks. On every screen every visible text is read,
and the walk fails on an untranslated catalog text or English in Chinese mode, a raw
code (snake_case, a campaign or item code, a lowercase enum value), money not in ¥ yuan
form, or the staff id where the name belongs. Each screen is also measured: every
button and field at least 48 px at 800x480. Then the screenshots are saved.
"""

from __future__ import annotations

import re
import time
from typing import Any

from tapcard.domain.model import CardState, Payment
from tapcard.readers.sim import SimCard, make_sim_card
from tapcard.ui.i18n import catalog
from tapcard.ui.worker import READ_POLL_MS
from tapcard.wire.codes import Reason
from tests import kivy_env
from tests.clock import pinned_today
from tests.device.conftest import Rig
from tests.terminal.conftest import PIN

TOUCH_PX_MIN = 48
SNAKE = re.compile(r"\b[a-z]+(?:_[a-z0-9]+)+\b")
CODE = re.compile(r"\b[A-Z][A-Z0-9]*(?:-[A-Z0-9]+)+\b")  # WEEKEND-5PCT, PARK-HOUR
BARE_DECIMAL = re.compile(r"(?<![¥\d.,/])\d[\d,]*\.\d\d\b")  # 128.50 without its ¥
WORD = re.compile(r"\b[A-Za-z]{2,}\b")
HEX_REF = re.compile(r"[0-9a-f]*[0-9][0-9a-f]*(?:-[0-9a-f]+)+|\b[0-9a-f]{8,}\b")  # ids, refs
# Words that stay Latin in Chinese mode: the people of the rig, and the usual letters.
LATIN_OK = {"EN", "PIN", "ID", "QR", "YYYY", "MM", "DD", "Li", "Wei", "Ana", "Silva", "Ann"}
LATIN_OK |= {"Lee"}
RAW_VALUES = {s.value for s in CardState} | {p.value for p in Payment}
RAW_VALUES |= {r.name.lower() for r in Reason}
TYPED = ("typed twice", "returned")  # the reasons the walk types
# Screens whose findings are reported apart (none now: the sale names its campaigns).
OTHERS: tuple[str, ...] = ()


def _press(widget: Any) -> None:
    from kivy.tests.common import UnitTestTouch

    kivy_env.pump()  # a screen just switched to takes touches from its next frame
    x, y = widget.to_window(*widget.center)
    touch = UnitTestTouch(x, y)
    touch.touch_down()
    touch.touch_up()
    kivy_env.pump()


def _visible(widget: Any) -> list[Any]:
    """The widgets shown: a hidden box (opacity 0, as the hours' row when not parking)
    hides all it holds."""
    if widget.opacity == 0:
        return []
    found = [widget]
    for child in widget.children:
        found += _visible(child)
    return found


def _texts(screen: Any) -> list[str]:
    from kivy.uix.label import Label
    from kivy.uix.textinput import TextInput

    out = []
    for w in _visible(screen):
        if isinstance(w, Label) and w.text.strip():
            out.append(w.text)
        elif isinstance(w, TextInput) and not w.text:
            out.append(w.hint_text)  # what staff typed is theirs, not the app's
    return [text for text in out if text.strip()]


def _problems(text: str, lang: str, staff_id: str) -> list[str]:
    for typed in TYPED:  # a reason staff typed, shown back on a confirmation
        text = text.replace(typed, "")
    text = text.replace("YYYY-MM-DD", "")  # the date format hint in English
    found = [f"raw code {code!r}" for code in SNAKE.findall(text) + CODE.findall(text)]
    found += [f"money not in yuan {n!r}" for n in BARE_DECIMAL.findall(text)]
    if "cents" in text or "分钱" in text:
        found.append("cents")
    segments = {s.strip() for s in re.split(r"[·:,()\n]", text)}
    found += [f"raw value {s!r}" for s in segments if s in RAW_VALUES]
    if re.search(rf"(?<![\w-]){re.escape(staff_id)}(?![\w-])", text):
        found.append(f"staff id {staff_id!r}")
    if lang == "zh":
        zh = catalog("zh")
        if text in zh and zh[text] != text:
            found.append("untranslated catalog text")
        # References (transfer ids, the printed SEQ/ID8) are hex: letters in them are no
        # English, and a random id may hold "ceff" or "bead".
        words = WORD.findall(HEX_REF.sub(" ", text))
        found += [f"English {w!r}" for w in words if w not in LATIN_OK]
    return found


def _small_targets(screen: Any) -> list[str]:
    from kivy.uix.button import ButtonBehavior
    from kivy.uix.textinput import TextInput

    small = []
    for w in _visible(screen):
        target = isinstance(w, ButtonBehavior | TextInput) and not w.disabled
        if target and (w.width < TOUCH_PX_MIN or w.height < TOUCH_PX_MIN):
            small.append(f"{type(w).__name__} {getattr(w, 'text', '')!r} {w.size}")
    return small


class Walk:
    def __init__(self, app: Any, reader: Any, rig: Rig) -> None:
        self.app, self.reader, self.rig, self.p = app, reader, rig, app.presenter
        self.seen: dict[str, list[str]] = {}
        self.failures: list[str] = []
        self.others: list[str] = []
        self.shots: list[str] = []

    def look(self, label: str) -> list[str]:
        """Read the screen now shown; note each problem; save its picture."""
        kivy_env.pump()
        screen = self.app.manager.current_screen
        texts = _texts(screen)
        name = f"{screen.name}:{label}" if label else screen.name
        self.seen[name] = texts
        bucket = self.others if screen.name in OTHERS else self.failures
        for text in dict.fromkeys(texts):
            for problem in dict.fromkeys(_problems(text, self.app.lang, "ann")):
                bucket.append(f"[{self.app.lang}] {name}: {problem} in {text!r}")
        self.failures += [f"{name}: under 48 px: {s}" for s in _small_targets(screen)]
        shot = f"terminal_{label or screen.name}_{self.app.lang}"
        kivy_env.shoot(self.app.manager, shot)
        self.shots.append(shot)
        return texts

    def until(self, screen: str) -> None:
        try:
            kivy_env.pump(lambda: self.p.screen == screen)
        except AssertionError:
            raise AssertionError(f"not {screen}: {self.p.screen} {self.p.view}") from None

    def tap(self, card: SimCard) -> None:
        """Take the last card off, let the watcher notice, then put this one on."""
        self.p.card = None
        self.reader.remove()
        time.sleep(2 * READ_POLL_MS / 1000)
        self.reader.tap(card)

    def member_card(self, index: int) -> SimCard:
        issuer = self.rig.seeded.hub.secrets.issuer_key
        uid = bytes([4, 9, 9, 9, 9, index, 1])
        return make_sim_card(
            issuer, b"\x44" * 32, self.rig.seeded.cards[index], uid, pinned_today()
        )

    def read_card(self, index: int) -> None:
        self.tap(self.member_card(index))
        kivy_env.pump(lambda: self.p.card is not None and self.p.card.snapshot is not None)
        self.p.home()


def _log_in(w: Walk) -> None:
    login = w.app.screen("login")
    w.look("login")
    login.ids.staff.text, login.ids.pin.text = "", PIN
    _press(login.ids.go)
    assert login.message == w.p.t("Enter your staff ID"), login.message
    w.look("login_no_id")
    login.ids.staff.text, login.ids.pin.text = "ann", PIN
    _press(login.ids.go)
    w.until("home")


def _money_and_points(w: Walk) -> None:
    home, t = w.app.screen("home"), w.p.t
    w.tap(SimCard(b"\x04\x07\x07\x07\x07\x07\x07", b"https://example.org/menu", b"\x01" * 32))
    kivy_env.pump(lambda: w.p.card is not None and w.p.card.tap.error is not None)
    w.p.home()
    assert t("This is not a membership card") in w.look("home_not_a_card")
    w.read_card(0)
    w.look("")
    home.ids.amount.text = "500"
    _press(_button(home, t("Top-up")))
    assert w.p.screen == "confirm"
    confirm = w.app.screen("confirm")
    assert "¥500.00" in confirm.body and confirm.member.endswith(w.rig.seeded.cards[0])
    w.look("confirm_topup")
    bar = confirm.ids.tenders.ids  # the top-up's tenders: ¥200 cash, the rest by WeChat
    bar.part.text, bar.ref.text = "200", "4200009876"
    _press(_button(confirm, t("WeChat Pay")))
    assert t("WeChat Pay") + " 4200009876: ¥300.00" in confirm.body, confirm.body
    w.look("confirm_topup_split")
    _press(confirm.ids.go)
    w.until("receipt")
    w.look("")
    assert home.ids.amount.text == "", "the amount stays after the top-up"
    w.p.home()
    home.ids.amount.text = "4000"
    b = _button(home, t("Spend"))
    _press(b)
    assert w.p.screen == "confirm", (w.p.screen, w.p.view)
    w.look("confirm_spend")
    _press(confirm.ids.go)
    w.until("message")
    assert w.app.screen("message").title == t("Not enough stored value")
    w.look("refused_funds")
    w.p.home()
    _press(_button(home, t("Parking")))
    _press(confirm.ids.more)
    _press(confirm.ids.more)
    assert confirm.units == 3 and t("Parking, per hour") + " \u00d7 3" in confirm.body
    w.look("confirm_parking")
    _press(confirm.ids.back)
    _press(_button(home, t("Car wash")))
    assert t("Standard car wash") + " \u00d7 1" in confirm.body
    w.look("confirm_wash")
    _press(confirm.ids.back)
    assert w.p.screen == "home"
    home.ids.other.text = "洗车常客"  # a tag for the member on the reader
    _press(home.ids.add_tag)
    assert w.p.screen == "confirm" and t("Tag") + ": 洗车常客" in confirm.body, confirm.body
    w.look("confirm_tag")
    _press(confirm.ids.go)
    w.until("receipt")
    w.look("receipt_tag")
    assert home.ids.other.text == "", "the tag stays typed after it was added"
    w.p.home()


def _button(screen: Any, text: str) -> Any:
    from kivy.uix.button import Button

    found = [w for w in screen.walk() if isinstance(w, Button) and w.text == text]
    assert found, f"no button {text!r} on {screen.name}"
    return found[0]


def _sale_and_forms(w: Walk) -> None:
    p = w.p
    p.sale()
    p.add_line("car_wash", "30")
    p.add_line("group_buy", "12.50")
    w.until("sale")
    w.look("")
    w.app.pay("cash")
    w.until("confirm")
    w.look("confirm_sale")
    _press(w.app.screen("confirm").ids.go)
    w.until("receipt")
    w.look("receipt_sale")
    p.search("Ana Silva")  # the full name: names match whole (sealed)
    w.until("members")
    w.look("")
    p.open_profile(w.rig.seeded.members[0])
    w.until("profile")
    w.look("")
    p.registration_form()
    w.until("register")
    w.look("")
    p.renewal()
    w.until("renewal")
    w.look("")
    _press(w.app.screen("renewal").ids.cash)
    w.until("confirm")
    w.look("confirm_renewal")
    p.confirms.cancel()
    p.backfill_form()
    w.until("backfill")
    w.look("")
    p.reversal_form()
    w.until("reversal")
    w.look("")
    p.confirms.reverse(w.app.screen("reversal").ids.ref.text, "typed twice")
    w.look("confirm_reversal")
    p.confirms.cancel()
    p.start_refund()
    w.until("refund")
    p.look_up()
    kivy_env.pump(lambda: w.app.screen("refund").can_pick)
    w.look("")
    p.pick_all()
    p.review("returned")
    w.until("refund_confirm")
    w.look("")
    p.confirm_refund()
    w.until("receipt")
    w.look("receipt_refund")
    p.shift_summary()
    w.until("shift")
    w.look("")


def _lost_card(w: Walk, report: bool) -> None:
    """Report the second member's card lost (the first walk), then try a top-up on it."""
    p, t, lost = w.p, w.p.t, w.rig.seeded.cards[1]
    p.home()
    home = w.app.screen("home")
    if report:
        _report_lost(w, home, lost)
    w.read_card(1)
    w.look("home_lost")
    home.ids.amount.text = "20"
    _press(_button(home, t("Top-up")))
    _press(w.app.screen("confirm").ids.go)
    kivy_env.pump(lambda: p.screen == "message")
    assert w.app.screen("message").title == t("This card was reported lost")
    w.look("refused_lost")
    home.ids.amount.text = "500"
    p.lock()
    kivy_env.pump()
    assert home.ids.amount.text == "", "the amount stays after a lock"


def _report_lost(w: Walk, home: Any, lost: str) -> None:
    t = w.p.t
    home.ids.other.text = lost
    _press(_button(home, t("Report lost")))
    w.until("confirm")
    confirm = w.app.screen("confirm")
    assert confirm.member.startswith(f"#{w.rig.seeded.members[1]} "), confirm.member
    w.look("confirm_lost")
    _press(confirm.ids.go)
    w.until("message")
    w.look("lost")
    assert home.ids.other.text == "", "the card number stays after reporting it lost"


def _walk_both(window_app: Any) -> dict[str, Walk]:
    app, reader, rig = window_app
    walks = {}
    for lang in ("zh", "en"):
        if app.lang != lang:
            app.toggle_language()
        w = Walk(app, reader, rig)
        _log_in(w)
        _money_and_points(w)
        _sale_and_forms(w)
        _lost_card(w, report=lang == "zh")
        walks[lang] = w
    return walks


def test_every_screen_in_both_languages(window_app: Any) -> None:
    walks = _walk_both(window_app)
    assert not walks["zh"].others + walks["en"].others
    failures = walks["zh"].failures + walks["en"].failures
    assert not failures, "\n".join(failures)
    screens = {name.split(":")[0] for w in walks.values() for name in w.seen}
    expected = {"login", "home", "sale", "receipt", "members", "profile", "register"}
    expected |= {"renewal", "backfill", "reversal", "refund", "refund_confirm", "shift"}
    expected |= {"message", "confirm"}
    assert expected <= screens, expected - screens
