"""Where the hub keeps its data and how it reaches its database and broker.

Embedded defaults: everything in one data folder (`./data`, or $TAPCARD_DATA), SQLite in
it, and no broker configured (then `serve` and `demo` start a private mosquitto).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import sqlalchemy as sa

from tapcard.errors import ValidationError

DATA_DIR_DEFAULT = "data"
# The databases the hub runs on, by the names a URL may give them (postgres:// is the
# spelling of Heroku, libpq and many guides: the same database).
DATABASES = {"sqlite": "sqlite", "postgresql": "postgresql", "postgres": "postgresql"}
URL_HINT = "give sqlite:///PATH/hub.sqlite3 or postgresql://USER@HOST/DATABASE"
BROKER_PORT_DEFAULT = 1883
# A broker that wants a login (a private broker another process started): the user name,
# and a file holding the password, so that it shows in no process listing or environment.
BROKER_USER_ENV = "TAPCARD_BROKER_USER"
BROKER_PASSWORD_FILE_ENV = "TAPCARD_BROKER_PASSWORD_FILE"  # noqa: S105 (a variable's name)


@dataclass(frozen=True, slots=True)
class BrokerAddress:
    """Where a broker listens; `username`/`password` when it wants a login (the
    embedded broker, for the hub: see hub.broker). Never printed with the password."""

    host: str
    port: int
    username: str = ""
    password: str = field(default="", repr=False)

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
        given = db_url or os.environ.get("TAPCARD_DB")
        url = database_url(given) if given else f"sqlite:///{folder / 'hub.sqlite3'}"
        broker_text = broker or os.environ.get("TAPCARD_BROKER")
        return cls(
            data_dir=folder,
            db_url=url,
            broker=_with_login(BrokerAddress.parse(broker_text)) if broker_text else None,
        )


def database_url(text: str) -> str:
    """A --db URL checked before anything connects: a database the hub runs on, and for
    SQLite a file in a folder that exists; `postgres://` is taken as `postgresql://`."""
    try:
        url = sa.engine.make_url(text)
    except (sa.exc.ArgumentError, ValueError):
        raise ValidationError(f"--db {text!r} is not a database URL: {URL_HINT}") from None
    shown = url.render_as_string(hide_password=True)  # no password in an error line
    backend = url.drivername.partition("+")[0]
    if backend not in DATABASES:
        raise ValidationError(
            f"--db {shown!r}: the hub runs on SQLite or PostgreSQL, not {backend}: {URL_HINT}"
        )
    if backend == "sqlite" and url.database not in (None, "", ":memory:"):
        folder = Path(str(url.database)).parent
        if not folder.is_dir():
            raise ValidationError(
                f"--db {shown!r}: the folder {folder} does not exist: create it "
                f"(mkdir -p {folder}) or give a file in another folder"
            )
    if DATABASES[backend] != backend:
        return DATABASES[backend] + text.strip()[len(backend) :]
    return text


def _with_login(address: BrokerAddress) -> BrokerAddress:
    user = os.environ.get(BROKER_USER_ENV, "")
    if not user:
        return address
    password_file = os.environ.get(BROKER_PASSWORD_FILE_ENV, "")
    try:
        password = Path(password_file).read_text().strip() if password_file else ""
    except OSError as exc:
        raise ValidationError(f"${BROKER_PASSWORD_FILE_ENV} cannot be read: {exc}") from None
    return BrokerAddress(address.host, address.port, user, password)
