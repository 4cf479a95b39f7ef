"""The notice outbox through a crash (issue 17): a `tapcard hub notice run` process is
killed -9 after its channel has handed the notice to the receiver and before the outbox
marks it sent. The receivers are real: a local HTTP server that records each request
(the signed webhook) and aiosmtpd (e-mail). Each holds its answer until the test has
killed the sender, so the kill lands in that window every time, not by luck.

After the kill the row is still `sending`: a round started at once leaves it alone (the
claim may be a live process's), and a round after CLAIM_TIMEOUT_MS sends it again with
the same Idempotency-Key and body (webhook) or Message-ID (mail), so the receiver can
drop the copy, and marks it sent once; a further round sends nothing. At least once,
never lost, and each copy recognisable: the contract in docs/operations.md."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email import message_from_bytes
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from aiosmtpd.controller import Controller

from hub import db
from hub.notices import outbox
from hub.notices.channels import ChannelName, Purpose
from tapcard.clock import CLOCK_SHIFT_ENV
from tests.clock import TEST_CLOCK
from tests.http_sink import Posted, http_serving
from tests.hub.test_cli import Cli, hub_cli, open_hub

__all__ = ["hub_cli"]  # the fixture, used by name

WAIT_S = 30.0
ROUND_TIMEOUT_S = 60
KEY = "fault:receipt:1"


@dataclass
class Receiver:
    """What a receiver was handed: (idempotency key, body) per delivery, in order.
    While `hold` is set it keeps each answer back until `release` is set."""

    env: dict[str, str]
    got: list[tuple[str, bytes]] = field(default_factory=list)
    hold: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)


@pytest.fixture
def webhook() -> Iterator[Receiver]:
    box: list[Receiver] = []

    def answer(posted: Posted) -> tuple[int, bytes]:
        box[0].got.append((posted.headers.get("Idempotency-Key", ""), posted.body))
        if box[0].hold.is_set():
            box[0].release.wait(WAIT_S)
        return 200, b""

    with http_serving(answer) as base:
        url = f"{base}/hook"
        env = {"TAPCARD_NOTICE_WEBHOOK_URL": url, "TAPCARD_NOTICE_WEBHOOK_SECRET": "s3cret"}
        box.append(Receiver(env))
        try:
            yield box[0]
        finally:
            box[0].release.set()  # a held reply goes, so the server can stop


class _Mailbox:
    def __init__(self, receiver: Receiver) -> None:
        self.receiver = receiver

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        mail = message_from_bytes(envelope.content)
        body = mail.get_payload(decode=True)
        assert isinstance(body, bytes)
        self.receiver.got.append((str(mail["Message-ID"]), body))
        while self.receiver.hold.is_set() and not self.receiver.release.is_set():
            await asyncio.sleep(0.01)
        return "250 OK"


@pytest.fixture
def mail() -> Iterator[Receiver]:
    with socket.socket() as probe:  # aiosmtpd checks it is up on the port it was given
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    receiver = Receiver({"TAPCARD_NOTICE_SMTP": f"127.0.0.1:{port}"})
    controller = Controller(_Mailbox(receiver), hostname="127.0.0.1", port=port)
    controller.start()
    yield receiver
    receiver.release.set()
    controller.stop()


def _round(data: Path, receiver: Receiver, later_ms: int = 0) -> subprocess.Popen[str]:
    """`tapcard hub notice run` in its own process, `later_ms` after the test clock."""
    env = {**os.environ, **receiver.env, CLOCK_SHIFT_ENV: str(TEST_CLOCK.shift_ms + later_ms)}
    return subprocess.Popen(
        [sys.executable, "-m", "launcher.cli", "hub", "--data", str(data), "notice", "run"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _finished(data: Path, receiver: Receiver, later_ms: int = 0) -> None:
    done = _round(data, receiver, later_ms)
    _out, err = done.communicate(timeout=ROUND_TIMEOUT_S)
    assert done.returncode == 0, err


def _wait(check: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WAIT_S
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.01)


def _row(run: Cli) -> Any:
    hub = open_hub(run)
    try:
        with hub.engine.connect() as conn:
            return conn.execute(sa.select(db.notices).where(db.notices.c.key == KEY)).one()
    finally:
        hub.close()


@pytest.mark.parametrize("channel", [ChannelName.WEBHOOK, ChannelName.EMAIL])
def test_a_round_killed_between_send_and_mark_sends_again_with_the_same_key(
    hub_cli: Cli, channel: ChannelName, request: pytest.FixtureRequest
) -> None:
    receiver: Receiver = request.getfixturevalue(
        "webhook" if channel is ChannelName.WEBHOOK else "mail"
    )
    hub = open_hub(hub_cli)
    try:
        notice = outbox.NewNotice(
            key=KEY,
            channel=channel,
            kind="receipt",
            purpose=Purpose.SERVICE,
            address="li.wei@example.com" if channel is ChannelName.EMAIL else "",
            lang="zh",
            subject="消费提醒",
            body="您消费了 ¥12.00, 积分余额 120",
            data={"points_after": "120"},
        )
        with hub.transaction() as conn:
            assert outbox.enqueue(conn, [notice], hub.clock.now_ms()) == 1
    finally:
        hub.close()
    receiver.hold.set()
    doomed = _round(hub_cli.data, receiver)
    _wait(lambda: len(receiver.got) == 1 or doomed.poll() is not None, "the notice handed over")
    assert doomed.poll() is None, doomed.communicate()[1]  # the round failed: say why
    doomed.send_signal(signal.SIGKILL)  # sent, not yet marked: the sender waits for the answer
    doomed.communicate(timeout=ROUND_TIMEOUT_S)
    assert doomed.returncode == -signal.SIGKILL
    receiver.release.set()
    assert (_row(hub_cli).state, _row(hub_cli).tries) == ("sending", 1)

    _finished(hub_cli.data, receiver)  # at once: the claim may be a live process's
    assert len(receiver.got) == 1 and _row(hub_cli).state == "sending"

    _finished(hub_cli.data, receiver, outbox.CLAIM_TIMEOUT_MS + 1_000)
    first, again = receiver.got
    assert again == first  # the same key and the same body: the receiver drops the copy
    assert first[0] and (KEY in first[0] or channel is ChannelName.EMAIL)
    row = _row(hub_cli)
    assert (row.state, row.tries, row.last_error) == ("sent", 2, "")

    _finished(hub_cli.data, receiver, outbox.CLAIM_TIMEOUT_MS + 2_000)
    assert len(receiver.got) == 2  # marked once: nothing more is sent
    assert _row(hub_cli).sent_ms == row.sent_ms
