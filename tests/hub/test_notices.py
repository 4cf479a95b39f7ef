"""Notices to members (hub/notices/): consent first, every channel real, nothing lost or
sent twice.

The channels talk to real local servers: aiosmtpd for mail, and one HTTP server that
records every request for the SMS provider, WeChat's template API and the webhook.
Scenario: a member agrees to receipts by e-mail and SMS; another agrees to nothing. The
first tops up, buys and pays from stored value below the low-balance line; a round
plans and delivers: each transaction's receipt on both channels with the balance after
it, one low-balance warning, a signed webhook event per transfer, nothing for the member
who did not agree. Then the SMS provider fails for a while (503): those notices wait and
retry, the others go, and once it recovers each is delivered exactly once, with its key
as the idempotency key; planning again records nothing new. A refused address is dead
at once and HQ can replay it. Marketing waits in quiet hours.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import sqlalchemy as sa

from hub import db
from hub.notices import outbox, planner
from hub.notices.channels import (
    Channel,
    ChannelName,
    Purpose,
    SmsChannel,
    SmtpChannel,
    SmtpRelay,
    WebhookChannel,
    WeChatChannel,
)
from hub.notices.consent import record_consent, set_contact
from hub.notices.run import channels_from, run_round
from tapcard.clock import ManualClock
from tapcard.wire import messages as m
from tests.conftest import Seeded
from tests.http_sink import Posted, http_serving
from tests.hub.support import Device, purchase
from tests.hub.test_cli import Cli, add_member, hub_cli
from tests.smtp import Mailbox, serving

__all__ = ["hub_cli"]  # the fixture, used by name

SECRET = "webhook-secret"


@dataclass
class Sink:
    """A local HTTP server that records each request and answers `status` (settable)."""

    url: str
    requests: list[tuple[str, dict[str, str], bytes]] = field(default_factory=list)
    status: int = 200
    answer: bytes = b'{"errcode": 0}'

    def bodies(self, path: str) -> list[dict[str, Any]]:
        return [json.loads(b) for p, _, b in self.requests if p.startswith(path)]

    def keys(self, path: str, status_ok: bool = True) -> list[str]:
        return [h.get("Idempotency-Key", "") for p, h, _ in self.requests if p.startswith(path)]


@pytest.fixture
def sink() -> Iterator[Sink]:
    box: list[Sink] = []

    def answer(posted: Posted) -> tuple[int, bytes]:
        recorder = box[0]
        if recorder.status == 200:  # only what was accepted counts as delivered
            recorder.requests.append((posted.path, posted.headers, posted.body))
        return recorder.status, recorder.answer

    with http_serving(answer) as url:
        box.append(Sink(url))
        yield box[0]


@pytest.fixture
def smtp() -> Iterator[tuple[Mailbox, int]]:
    box = Mailbox()
    with serving(box) as port:
        yield box, port


def _agree(
    seeded: Seeded, member_id: int, *channels: ChannelName, purpose: Purpose = Purpose.SERVICE
) -> None:
    with seeded.hub.transaction() as conn:
        for channel in channels:
            record_consent(conn, member_id, channel, purpose, True, "2026-06", "test")


def _book(seeded: Seeded, *ops: m.AnyOp) -> None:
    device = Device(seeded.device_id, seeded.device_key)
    results = seeded.hub.ledger.apply_batch([device.incoming(seeded.cards[0], op) for op in ops])
    assert all(r.accepted for r in results), [r.message for r in results]


def _notices(seeded: Seeded) -> list[Any]:
    with seeded.hub.engine.connect() as conn:
        return list(conn.execute(sa.select(db.notices).order_by(db.notices.c.id)).all())


def test_receipts_go_on_the_agreed_channels_once_through_a_failing_provider(
    seeded: Seeded, smtp: tuple[Mailbox, int], sink: Sink
) -> None:
    mailbox, port = smtp
    member, other = seeded.members
    with seeded.hub.transaction() as conn:
        set_contact(conn, member, ChannelName.EMAIL, "li.wei@example.com", "zh", "test")
        set_contact(conn, other, ChannelName.EMAIL, "ana@example.com", "en", "test")
    _agree(seeded, member, ChannelName.EMAIL, ChannelName.SMS)
    channels: dict[ChannelName, Channel] = {
        ChannelName.EMAIL: SmtpChannel(SmtpRelay("127.0.0.1", port), "会员中心 <vip@example.com>"),
        ChannelName.SMS: SmsChannel(
            f"{sink.url}/sms", "key", {"receipt": "SMS_1", "low_balance": "SMS_2"}
        ),
        ChannelName.WEBHOOK: WebhookChannel(f"{sink.url}/hook", SECRET),
    }
    _book(seeded, m.TopUp(amount_cents=5_000), purchase(12_800), m.Spend(amount_cents=4_000))
    sink.status = 503  # the SMS provider (and the webhook receiver) are down
    report = run_round(seeded.hub, channels)
    assert report.transfers == 3 and report.delivery is not None
    mails = mailbox.messages
    assert len(mails) == 4 and {str(x["To"]) for x in mails} == {"li.wei@example.com"}
    texts = [str(x.get_payload(decode=True), "utf-8") for x in mails]
    assert any("充值¥50.00" in t and "储值余额¥50.00" in t for t in texts), texts
    assert any("储值消费¥40.00" in t and "储值余额¥10.00" in t for t in texts), texts
    assert all("cents" not in t for t in texts)
    states = {(n.channel, n.kind): n.state for n in _notices(seeded)}
    assert states[("sms", "receipt")] == outbox.NoticeState.PENDING  # waiting to retry
    assert states[("sms", "low_balance")] == outbox.NoticeState.PENDING
    assert states[("email", "low_balance")] == outbox.NoticeState.SENT
    sink.status = 200  # the provider is back; the retries fall due
    later = ManualClock(seeded.hub.clock.now_ms() + outbox.BACKOFF_MAX_MS)  # the retries' time
    zone = str(seeded.hub.rules.latest().time_zone)
    for _ in range(2):  # twice: nothing is sent twice
        outbox.deliver_due(seeded.hub.writer, channels, later, zone)
    run_round(seeded.hub, channels)
    sms = sink.bodies("/sms")
    assert sorted(b["template_id"] for b in sms) == ["SMS_1", "SMS_1", "SMS_1", "SMS_2"]
    assert all(b["phone"] == "13800000001" for b in sms)
    sms_keys = sink.keys("/sms")
    assert len(sms_keys) == len(set(sms_keys)) == 4 and all(
        k.startswith(("receipt:", "low_balance:")) for k in sms_keys
    )
    hooks = [(h, b) for p, h, b in sink.requests if p == "/hook"]
    assert len(hooks) == 3
    for headers, body in hooks:
        expected = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
        assert headers["X-Tapcard-Signature"] == expected
    assert {json.loads(b)["event"] for _, b in hooks} == {"transfer.booked"}
    assert all(n.state == outbox.NoticeState.SENT for n in _notices(seeded))
    assert not [n for n in _notices(seeded) if n.member_id == other]  # never agreed
    assert len(mailbox.messages) == 4  # 3 receipts and the low-balance warning, once each
    with seeded.hub.transaction() as conn:
        assert planner.plan_transfers(conn, seeded.hub.clock.now_ms(), zone, webhook=True) == 0


def test_a_refused_address_is_dead_and_hq_can_replay_it(
    seeded_sqlite: Seeded, smtp: tuple[Mailbox, int]
) -> None:
    seeded = seeded_sqlite
    mailbox, port = smtp
    member = seeded.members[0]
    with seeded.hub.transaction() as conn:
        set_contact(conn, member, ChannelName.EMAIL, "gone@example.com", "en", "test")
    _agree(seeded, member, ChannelName.EMAIL)
    mailbox.refuse.add("gone@example.com")
    channels = {ChannelName.EMAIL: SmtpChannel(SmtpRelay("127.0.0.1", port), "vip@example.com")}
    _book(seeded, m.TopUp(amount_cents=1_000))
    run_round(seeded.hub, channels)
    [notice] = _notices(seeded)
    assert notice.state == outbox.NoticeState.DEAD and "refused" in notice.last_error
    assert notice.tries == 1  # never tried again by itself
    mailbox.refuse.clear()
    with seeded.hub.transaction() as conn:
        assert outbox.replay(conn, None, seeded.hub.clock.now_ms()) == 1
    run_round(seeded.hub, channels)
    [mail] = mailbox.messages
    assert mail["Subject"] == "Your card: top-up"
    assert "¥10.00" in str(mail.get_payload(decode=True), "utf-8")


def test_marketing_waits_for_consent_and_for_the_end_of_quiet_hours(
    seeded_sqlite: Seeded, sink: Sink
) -> None:
    seeded = seeded_sqlite
    member, other = seeded.members
    _agree(seeded, member, ChannelName.SMS, purpose=Purpose.MARKETING)
    _agree(seeded, other, ChannelName.SMS)  # service only: no offers
    with seeded.hub.transaction() as conn:
        made = planner.enqueue_campaign(
            conn, "SPRING", [member, other], {"zh": "春季特惠"}, {"zh": "满200减20"}, 0
        )
        again = planner.enqueue_campaign(conn, "SPRING", [member, other], {}, {}, 0)
    assert (made, again) == (1, 0)
    channels = {ChannelName.SMS: SmsChannel(f"{sink.url}/sms", "k", {"campaign": "SMS_9"})}
    night = 1_781_287_200_000  # 2026-06-12 18:00 UTC: 02:00 in Shanghai
    assert outbox.in_quiet_hours(night, "Asia/Shanghai")
    stats = outbox.deliver_due(seeded.hub.writer, channels, ManualClock(night), "Asia/Shanghai")
    assert stats.sent == 0 and sink.requests == []
    morning = night + 7 * 3_600_000  # 09:00 in Shanghai
    stats = outbox.deliver_due(seeded.hub.writer, channels, ManualClock(morning), "Asia/Shanghai")
    assert stats.sent == 1
    [body] = sink.bodies("/sms")
    assert body["params"]["title_zh"] == "春季特惠" and body["text"].endswith("满200减20")


def test_wechat_answers_are_read_and_bad_settings_are_refused(
    seeded_sqlite: Seeded, sink: Sink
) -> None:
    seeded = seeded_sqlite
    member = seeded.members[0]
    with seeded.hub.transaction() as conn:
        set_contact(conn, member, ChannelName.WECHAT, "o-openid-1", "zh", "test")
    _agree(seeded, member, ChannelName.WECHAT)
    channels = {ChannelName.WECHAT: WeChatChannel(sink.url, "TOKEN", {"receipt": "tmpl-1"})}
    sink.answer = b'{"errcode": 43004, "errmsg": "require subscribe"}'
    _book(seeded, m.TopUp(amount_cents=2_000))
    run_round(seeded.hub, channels)
    [notice] = _notices(seeded)
    assert notice.state == outbox.NoticeState.DEAD and "43004" in notice.last_error
    [(path, _, body)] = sink.requests
    assert path.startswith("/cgi-bin/message/template/send?access_token=TOKEN")
    sent = json.loads(body)
    assert sent["touser"] == "o-openid-1" and sent["template_id"] == "tmpl-1"
    assert sent["data"]["balance_after"] == {"value": "¥20.00"}
    from tapcard.errors import ValidationError

    with pytest.raises(ValidationError, match="host:port"):
        channels_from({"TAPCARD_NOTICE_SMTP": "mail.example.com"})
    with pytest.raises(ValidationError, match="starttls or tls"):
        channels_from({"TAPCARD_NOTICE_SMTP": "m:25", "TAPCARD_NOTICE_SMTP_USER": "u"})
    assert set(channels_from({"TAPCARD_NOTICE_WEBHOOK_URL": "https://erp.example.com/h"})) == {
        ChannelName.WEBHOOK
    }


def test_notices_from_the_cli(
    hub_cli: Cli, smtp: tuple[Mailbox, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    mailbox, port = smtp
    member = add_member(hub_cli, "Zhou Min", "13912345678")
    code, _, err = hub_cli(
        "notice",
        "consent",
        str(member),
        "--channel",
        "email",
        "--purpose",
        "service",
        "--terms",
        "v1",
    )
    assert code == 2 and "--grant or --withdraw" in err
    hub_cli.ok("notice", "contact", str(member), "email", "zhou@example.com", "--lang", "en")
    out = hub_cli.ok(
        "notice",
        "consent",
        str(member),
        "--channel",
        "email",
        "--purpose",
        "service",
        "--terms",
        "v1",
        "--grant",
    )
    assert "agreed to service notices by email" in out
    card = hub_cli.json("card", "issue", str(member))["card_id"]
    hub_cli.ok("card", "lost", card)
    monkeypatch.setenv("TAPCARD_NOTICE_SMTP", f"127.0.0.1:{port}")
    monkeypatch.setenv("TAPCARD_NOTICE_SMTP_FROM", "vip@example.com")
    ran = hub_cli.json("notice", "run")
    assert ran["card notices"] == 1 and ran["sent"] == 1
    [mail] = mailbox.messages
    assert mail["Subject"] == "Card reported lost" and mail["To"] == "zhou@example.com"
    listed = hub_cli.json("notice", "list")
    assert listed["counts"] == {"sent": 1} and listed["notices"][0]["kind"] == "card_lost"
    assert "sent 1" in hub_cli.ok("notice", "list")
    code, _, err = hub_cli("notice", "replay")
    assert code == 2 and "--all-dead" in err
    assert hub_cli.ok("notice", "replay", "--all-dead") == "0 dead notice(s) due again\n"
    assert "春节" in hub_cli.ok(
        "notice", "holiday", "2027-02-06", "--zh", "春节", "--en", "Spring Festival"
    )
    monkeypatch.setenv("TAPCARD_NOTICE_SMTP", "no-port")
    code, _, err = hub_cli("notice", "run")
    assert code == 2 and "host:port" in err and "Traceback" not in err
