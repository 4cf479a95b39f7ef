"""Where the hub keeps its data and how it reaches its database and broker.

Embedded defaults: everything in one data folder (`./data`, or $TAPCARD_DATA), SQLite in
it, and no broker configured (then `serve` and `demo` start a private mosquitto).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from tapcard.errors import ValidationError

DATA_DIR_DEFAULT = "data"
BROKER_PORT_DEFAULT = 1883


@dataclass(frozen=True, slots=True)
class BrokerAddress:
    host: str
    port: int

    @classmethod
    def parse(cls, text: str) -> BrokerAddress:
        host, _, port = text.rpartition(":")
        if not host:
            host, port = text, str(BROKER_PORT_DEFAULT)
        if not port.isdigit() or not 0 < int(port) < 65536:
            raise ValidationError(f"broker address {text!r} is not host:port")
        return cls(host, int(port))

    def __str__(self) -> str:
        return f"{self.host}:{self.port}"


@dataclass(frozen=True, slots=True)
class HubConfig:
    data_dir: Path
    db_url: str
    broker: BrokerAddress | None  # None: start a private mosquitto in the data folder
    worker: str = "1"

    @classmethod
    def from_env(
        cls, data_dir: str | None = None, db_url: str | None = None, broker: str | None = None
    ) -> HubConfig:
        folder = Path(data_dir or os.environ.get("TAPCARD_DATA", DATA_DIR_DEFAULT))
        url = db_url or os.environ.get("TAPCARD_DB") or f"sqlite:///{folder / 'hub.sqlite3'}"
        broker_text = broker or os.environ.get("TAPCARD_BROKER")
        return cls(
            data_dir=folder,
            db_url=url,
            broker=BrokerAddress.parse(broker_text) if broker_text else None,
        )
