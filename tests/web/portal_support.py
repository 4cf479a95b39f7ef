"""What the member page's tests share: a local HTTP server standing for the SMS provider
(it records what the hub sends), the hub's environment pointing at it, and the code
read back from the recorded SMS."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from tests.http_sink import Posted, http_serving

SMS_TEMPLATES = {"login_code": "SMS_LOGIN_1"}


@dataclass
class SmsProvider:
    url: str
    sent: list[dict[str, Any]] = field(default_factory=list)

    def last_code(self, phone: str) -> str:
        mine = [s for s in self.sent if s["phone"] == phone]
        assert mine, f"no SMS to {phone}"
        found = re.search(r"\d{6}", mine[-1]["text"])
        assert found and mine[-1]["params"]["code"] == found.group(0)
        return found.group(0)


@pytest.fixture
def sms_provider(monkeypatch: pytest.MonkeyPatch) -> Iterator[SmsProvider]:
    """A real HTTP server on loopback; the hub's SMS channel is configured to it the way
    /etc/tapcard/hub.env would (hub/notices/run.py)."""
    box: list[SmsProvider] = []

    def answer(posted: Posted) -> tuple[int, bytes]:
        box[0].sent.append(json.loads(posted.body))
        return 200, b'{"ok": true}'

    with http_serving(answer) as url:
        box.append(SmsProvider(f"{url}/send"))
        monkeypatch.setenv("TAPCARD_NOTICE_SMS_URL", box[0].url)
        monkeypatch.setenv("TAPCARD_NOTICE_SMS_KEY", "test-key")
        monkeypatch.setenv("TAPCARD_NOTICE_SMS_TEMPLATES", json.dumps(SMS_TEMPLATES))
        yield box[0]
