"""The notice outbox's throughput: notices recorded, claimed, sent and marked, per second,
beside the same sends with no outbox at all.

A SQLite hub's outbox gets N notices (`outbox.enqueue` in pages of 1,000: the planner's
write), then `outbox.deliver_due` rounds deliver them (each claims up to 200 in one
transaction, sends each outside it, marks each in a transaction of its own) until none
is pending, to the receivers the tests use: a local HTTP server that records every
request (the signed webhook channel) and aiosmtpd (the e-mail channel, one SMTP
connection per notice as the relay makes). The peer, in the same run against the same
servers: the same bodies POSTed with bare urllib, and the same mails sent with bare
smtplib, so the difference is what the outbox's durability costs per notice. The
channel's rate limit is lifted for the run (the figure is the hub's, not a provider's).

    python bench/notices.py [--quick] [--n N]

The last line of output is one JSON object with the figures.
"""

from __future__ import annotations

import argparse
import json
import smtplib
import socket
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Final

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from aiosmtpd.controller import Controller

from hub.app import Hub
from hub.config import HubConfig
from hub.notices import outbox
from hub.notices.channels import (
    Channel,
    ChannelName,
    Outgoing,
    Purpose,
    SmtpChannel,
    SmtpRelay,
    WebhookChannel,
)
from hub.rulestore import parse_rules, store_rules
from tapcard.samples import sample_rules_bytes
from tests.http_sink import Posted, http_serving

N_FULL: Final = 10_000
N_QUICK: Final = 500
MAIL_SHARE: Final = 4  # e-mail gets N / 4: a connection per notice is the slow part
PAGE: Final = 1_000
NO_LIMIT: Final = 10**9


class Recorder:
    def __init__(self) -> None:
        self.count = 0
        self.keys: set[str] = set()
        self.lock = threading.Lock()

    def got(self, key: str) -> None:
        with self.lock:
            self.count += 1
            self.keys.add(key)


@contextmanager
def http_sink() -> Iterator[tuple[str, Recorder]]:
    recorder = Recorder()

    def answer(posted: Posted) -> tuple[int, bytes]:
        recorder.got(posted.headers.get("Idempotency-Key", ""))
        return 200, b""

    with http_serving(answer) as url:
        yield f"{url}/hook", recorder


class _Mailbox:
    def __init__(self, recorder: Recorder) -> None:
        self.recorder = recorder

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        text = envelope.content.decode("utf-8", "replace")
        key = next((ln for ln in text.splitlines() if ln.lower().startswith("message-id")), "")
        self.recorder.got(key)
        return "250 OK"


@contextmanager
def smtp_sink() -> Iterator[tuple[int, Recorder]]:
    recorder = Recorder()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    controller = Controller(_Mailbox(recorder), hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield port, recorder
    finally:
        controller.stop()


def _notices(channel: ChannelName, n: int) -> list[outbox.NewNotice]:
    return [
        outbox.NewNotice(
            key=f"bench:{channel.value}:{i}",
            channel=channel,
            kind="receipt",
            purpose=Purpose.SERVICE,
            address=f"m{i}@example.com" if channel is ChannelName.EMAIL else "",
            lang="zh",
            subject="消费提醒 Receipt",
            body=f"您消费了 ¥{i % 500}.00, 积分余额 {i % 9000}",
            data={"points_after": str(i % 9000), "balance_after_yuan": f"{i % 500}.00"},
            member_id=i,
        )
        for i in range(1, n + 1)
    ]


def through_outbox(hub: Hub, channel: Channel, n: int) -> dict[str, float]:
    """Seconds to record n notices, and to deliver them all."""
    notices = _notices(channel.name, n)
    started = time.perf_counter()
    for start in range(0, n, PAGE):
        with hub.transaction() as conn:
            outbox.enqueue(conn, notices[start : start + PAGE], hub.clock.now_ms())
    planned = time.perf_counter() - started
    zone = str(hub.rules.latest().time_zone)
    sent = 0
    while sent < n:
        stats = outbox.deliver_due(
            hub.writer, {channel.name: channel}, hub.clock, zone, {channel.name: NO_LIMIT}
        )
        assert stats.sent and not (stats.dead or stats.retrying), stats
        sent += stats.sent
    return {"plan_s": planned, "deliver_s": time.perf_counter() - started - planned}


def bare(send: Callable[[Outgoing], None], channel: ChannelName, n: int) -> float:
    """Seconds for the same sends with no database."""
    rows = [
        Outgoing(x.key, x.kind, x.address, x.lang, x.subject, x.body, x.data, x.member_id)
        for x in _notices(channel, n)
    ]
    started = time.perf_counter()
    for row in rows:
        send(row)
    return time.perf_counter() - started


def _post(url: str) -> Callable[[Outgoing], None]:
    def send(row: Outgoing) -> None:
        body = json.dumps({"event": row.kind, "key": row.key, "data": dict(row.data)}).encode()
        headers = {"Content-Type": "application/json", "Idempotency-Key": row.key}
        request = urllib.request.Request(url, data=body, method="POST", headers=headers)
        with urllib.request.urlopen(request, timeout=10) as answer:
            answer.read()

    return send


def _mail(port: int, channel: SmtpChannel) -> Callable[[Outgoing], None]:
    def send(row: Outgoing) -> None:
        with smtplib.SMTP("127.0.0.1", port, timeout=10) as smtp:
            smtp.send_message(channel.message(row))

    return send


def _line(name: str, n: int, seconds: float) -> float:
    rate = n / seconds if seconds else 0.0
    print(f"{name:36}{n:>8,}{seconds:>10.2f}{rate:>12.0f}")
    return rate


def run(n: int, folder: Path) -> dict[str, Any]:
    hub = Hub.init(HubConfig(folder, f"sqlite:///{folder / 'hub.sqlite3'}", None))
    with hub.transaction() as conn:
        store_rules(conn, parse_rules(sample_rules_bytes()), "bench")
    figures: dict[str, Any] = {"bench": "notices", "database": "sqlite"}
    print(f"{'':36}{'notices':>8}{'seconds':>10}{'notices/s':>12}")
    with http_sink() as (url, seen):
        hook = WebhookChannel(url, "bench-secret")
        timed = through_outbox(hub, hook, n)
        assert seen.count == n and len(seen.keys) == n  # each once
        peer = bare(_post(url), ChannelName.WEBHOOK, n)
    figures["webhook"] = {
        "notices": n,
        "plan_per_s": round(_line("webhook: record (enqueue)", n, timed["plan_s"])),
        "outbox_per_s": round(_line("webhook: claim, send, mark", n, timed["deliver_s"])),
        "peer_per_s": round(_line("peer: bare HTTP POST", n, peer)),
    }
    m = n // MAIL_SHARE
    with smtp_sink() as (port, seen):
        mail = SmtpChannel(SmtpRelay("127.0.0.1", port), "会员中心 <vip@example.com>")
        timed = through_outbox(hub, mail, m)
        assert seen.count == m and len(seen.keys) == m
        peer = bare(_mail(port, mail), ChannelName.EMAIL, m)
    figures["email"] = {
        "notices": m,
        "plan_per_s": round(_line("e-mail: record (enqueue)", m, timed["plan_s"])),
        "outbox_per_s": round(_line("e-mail: claim, send, mark", m, timed["deliver_s"])),
        "peer_per_s": round(_line("peer: bare smtplib send", m, peer)),
    }
    hub.close()
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help=f"{N_QUICK} notices (< 1 min)")
    parser.add_argument("--n", type=int)
    args = parser.parse_args()
    n = args.n or (N_QUICK if args.quick else N_FULL)
    with tempfile.TemporaryDirectory() as tmp:
        figures = run(n, Path(tmp))
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
