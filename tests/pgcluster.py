"""A throwaway PostgreSQL cluster for the tests and benchmarks, like `hub.broker`'s
private mosquitto: Debian's server binaries, `initdb` into a temporary folder with trust
auth, a free port on 127.0.0.1 and its Unix socket in that folder. Nothing it does
touches a server the machine happens to run.

PostgreSQL refuses to run as root, so as root the cluster runs as the `postgres` system
user (Debian's package creates it) or else `nobody`, and owns its temporary folder.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import re
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import psycopg

from hub.broker import end_process, free_port

# An admin URL of an existing server, e.g. postgresql+psycopg://postgres@127.0.0.1:5432/postgres
# (its user may create and drop databases): tests and benchmarks use it instead of a cluster.
PG_URL_ENV: Final = "TAPCARD_TEST_PG_URL"
PG_SERVER_PACKAGE: Final = "postgresql"  # Debian's package with initdb and postgres
PG_BIN_GLOB: Final = "/usr/lib/postgresql/*/bin"
PG_SUPERUSER: Final = "postgres"
PG_RUN_USERS: Final = ("postgres", "nobody")  # as root: the first that exists
PG_INITDB_TIMEOUT_S: Final = 60.0
PG_START_TIMEOUT_S: Final = 30.0
PG_STOP_TIMEOUT_S: Final = 10.0
PG_POLL_INTERVAL_S: Final = 0.05
PG_ORPHAN_SIGNAL: Final = "SIGQUIT"  # PostgreSQL's immediate shutdown
# The busiest tests run two hub workers, their own hub and a dashboard: at most 4 x 15
# connections (hub.db's pool of 5 plus SQLAlchemy's overflow of 10), plus the admin's.
PG_MAX_CONNECTIONS: Final = 100
# A throwaway cluster need not survive a crash of the machine: skip the disk flushes.
PG_THROWAWAY_SETTINGS: Final = {
    "fsync": "off",
    "full_page_writes": "off",
    "synchronous_commit": "off",
}


class PgClusterError(Exception):
    """The throwaway cluster could not be set up; the message says what to install."""


def _newest_bindir(*tools: str) -> Path | None:
    """The bin folder of the newest installed major version that has all of `tools`."""
    found = []
    for bindir in Path("/").glob(PG_BIN_GLOB.lstrip("/")):
        major = bindir.parent.name
        if re.fullmatch(r"\d+(\.\d+)?", major) and all((bindir / t).exists() for t in tools):
            found.append((tuple(int(part) for part in major.split(".")), bindir))
    return max(found)[1] if found else None


def server_bindir() -> Path:
    """The newest installed server's bin folder. `pg_config --bindir` is no guide: it may
    name the client package's folder, which has no initdb."""
    found = _newest_bindir("initdb", "postgres", "pg_ctl")
    if found is None:
        raise PgClusterError(
            f"no PostgreSQL server found ({PG_BIN_GLOB}/initdb): "
            f"`apt-get install {PG_SERVER_PACKAGE}`"
        )
    return found


def client_bindir() -> Path | None:
    """The newest pg_dump and pg_restore, as new as any server installed here. Debian's
    /usr/bin/pg_dump (pg_wrapper) runs the version of the machine's default cluster when
    given only a URL, which may be older than the server a test started."""
    return _newest_bindir("pg_dump", "pg_restore")


@dataclass(frozen=True, slots=True)
class _RunAs:
    """Who runs initdb and postgres: None for ourselves (subprocess's defaults)."""

    user: int | None = None
    group: int | None = None
    extra_groups: list[int] | None = None  # [] drops root's supplementary groups too

    @property
    def uid(self) -> int:
        return os.geteuid() if self.user is None else self.user

    @property
    def gid(self) -> int:
        return os.getegid() if self.group is None else self.group


def _run_as() -> _RunAs:
    if os.geteuid() != 0:
        return _RunAs()
    for name in PG_RUN_USERS:
        with contextlib.suppress(KeyError):
            entry = pwd.getpwnam(name)
            return _RunAs(entry.pw_uid, entry.pw_gid, [])
    raise PgClusterError(f"running as root and none of the users {PG_RUN_USERS} exists")


class PgCluster:
    """postgres on 127.0.0.1:<port>, its data, socket and log in a temporary folder that
    `stop` removes. `durable=True` keeps PostgreSQL's flushes (for benchmark figures)."""

    def __init__(self, durable: bool = False) -> None:
        self.bindir = server_bindir()
        self.durable = durable
        self.port = free_port()
        self.folder: Path | None = None
        self.process: subprocess.Popen[bytes] | None = None
        self._run_as = _run_as()

    @property
    def host(self) -> str:
        return "127.0.0.1"

    @property
    def admin_url(self) -> str:
        return self.url("postgres")

    def url(self, database: str) -> str:
        return f"postgresql+psycopg://{PG_SUPERUSER}@{self.host}:{self.port}/{database}"

    @property
    def log_path(self) -> Path:
        assert self.folder is not None
        return self.folder / "postgres.log"

    def start(self) -> None:
        # mkdtemp, not pytest's tmp_path: that one sits in a folder only root may enter.
        self.folder = Path(tempfile.mkdtemp(prefix="tapcard-pg-"))
        try:
            os.chown(self.folder, self._run_as.uid, self._run_as.gid)
            self._initdb()
            self._spawn()
            self._wait_ready()
        except BaseException:
            self.stop()
            raise

    def _initdb(self) -> None:
        assert self.folder is not None
        with self.log_path.open("ab") as log:
            done = subprocess.run(
                [
                    str(self.bindir / "initdb"),
                    f"--pgdata={self.folder / 'data'}",
                    f"--username={PG_SUPERUSER}",
                    "--auth=trust",
                    "--encoding=UTF8",
                    "--locale=C.UTF-8",
                    "--no-sync",  # nothing to keep if the machine crashes mid-run
                ],
                stdout=log,
                stderr=log,
                timeout=PG_INITDB_TIMEOUT_S,
                check=False,
                cwd=self.folder,
                user=self._run_as.user,
                group=self._run_as.group,
                extra_groups=self._run_as.extra_groups,
            )
        if done.returncode != 0:
            raise PgClusterError(f"initdb failed:\n{self.log_path.read_text(errors='replace')}")

    def _settings(self) -> dict[str, str]:
        assert self.folder is not None
        settings = {
            "listen_addresses": self.host,
            "port": str(self.port),
            "unix_socket_directories": str(self.folder),
            "max_connections": str(PG_MAX_CONNECTIONS),
        }
        return settings if self.durable else settings | PG_THROWAWAY_SETTINGS

    def _spawn(self) -> None:
        assert self.folder is not None
        options = [arg for k, v in self._settings().items() for arg in ("-c", f"{k}={v}")]
        # If this process dies without a teardown (SIGKILL, a CI timeout), the kernel
        # shuts the postmaster down too, rather than leaving it serving an empty folder.
        # The signal comes when the starting *thread* ends: start from the main thread.
        setpriv = shutil.which("setpriv")  # util-linux, on every Debian
        guard = [setpriv, f"--pdeathsig={PG_ORPHAN_SIGNAL}"] if setpriv else []
        with self.log_path.open("ab") as log:
            # Its own session: Ctrl-C reaches pytest, whose teardown stops the cluster
            # after the tests that use it.
            self.process = subprocess.Popen(
                [*guard, str(self.bindir / "postgres"), "-D", str(self.folder / "data"), *options],
                stdout=log,
                stderr=log,
                cwd=self.folder,
                start_new_session=True,
                user=self._run_as.user,
                group=self._run_as.group,
                extra_groups=self._run_as.extra_groups,
            )

    def _wait_ready(self) -> None:
        """Until a query runs: the port opens before the server accepts sessions."""
        assert self.process is not None and self.folder is not None
        deadline = time.monotonic() + PG_START_TIMEOUT_S
        while True:
            if self.process.poll() is not None:
                break
            try:
                with psycopg.connect(
                    host=str(self.folder), port=self.port, user=PG_SUPERUSER, dbname="postgres"
                ) as conn:
                    conn.execute("SELECT 1")
                return
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    break
                time.sleep(PG_POLL_INTERVAL_S)
        log = self.log_path.read_text(errors="replace")
        raise PgClusterError(f"postgres did not start on port {self.port}:\n{log}")

    def stop(self) -> None:
        """Immediate shutdown (SIGQUIT: nothing to keep), then the folder goes."""
        if self.process is not None:
            end_process(self.process, signal.SIGQUIT, PG_STOP_TIMEOUT_S)
        self.process = None
        if self.folder is not None:
            shutil.rmtree(self.folder, ignore_errors=True)
            self.folder = None

    def __enter__(self) -> PgCluster:
        self.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()
