"""What `tapcard hub` prints for people, and how it refuses a wrong invocation.

Scenario: an HQ operator reads a turnover report and the dashboard users in a terminal:
money in yuan with ¥ and thousands separators, never raw cents; times as the business
time zone's wall clock (the rules' time_zone), never epoch milliseconds; the same
commands with --json print the raw figures for scripts. A damaged journal makes
`verify` print its counts, the problems by kind and the first few, with the full list
in --json. Then every kind of wrong invocation (bad --db URLs, a PostgreSQL that is not
listening, a SQLite file in a missing folder, unknown commands and arguments, an old
rule set version) gets one line on stderr, a non-zero exit and no traceback, and only
a database that is really damaged is told to restore a backup.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import sqlite3
import zoneinfo
from pathlib import Path

import pytest

from hub.cli import common
from hub.cli.ledger import VERIFY_SHOWN_MAX
from hub.verify import CHECKS
from launcher import cli
from tapcard.domain.model import Payment
from tapcard.samples import sample_rules_bytes
from tests.hub.support import purchase
from tests.hub.test_cli import Cli, hub_cli, kiosk_and_card, open_hub, run_cli

__all__ = ["hub_cli"]  # the fixture, shared with test_cli

SHANGHAI = "Asia/Shanghai"


# --- formatting ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cents", "shown"),
    [(0, "¥0.00"), (5, "¥0.05"), (-5, "-¥0.05"), (2_681_400, "¥26,814.00"),
     (123_456_789, "¥1,234,567.89"), (-100_000, "-¥1,000.00")],
)  # fmt: skip
def test_yuan_has_the_sign_and_thousands_separators(cents: int, shown: str) -> None:
    assert common.yuan(cents) == shown


def test_cells_follow_the_unit_in_the_column_name() -> None:
    moment_ms = 1_767_225_600_000  # 2026-01-01 00:00 UTC
    assert common.cell("net_cents", 2_681_400, SHANGHAI) == "¥26,814.00"
    assert common.cell("net_yuan", "26814.00", SHANGHAI) == "¥26,814.00"
    assert common.cell("created_ms", moment_ms, SHANGHAI) == "2026-01-01 08:00:00"
    assert common.cell("created_ms", moment_ms, "Europe/London") == "2026-01-01 00:00:00"
    assert common.cell("last_seen_ms", 0, SHANGHAI) == "never"
    assert common.cell("points", 1_234_567, SHANGHAI) == "1,234,567"
    assert common.cell("member_id", 12345, SHANGHAI) == "12345"  # an id is not a quantity
    assert common.cell("disabled", False, SHANGHAI) == "no"
    assert common.cell("branch_id", None, SHANGHAI) == ""
    long = common.cell("errors", ["x" * 50] * 10, SHANGHAI)
    assert len(long) == common.CELL_CHARS_MAX and long.endswith("…")
    assert [common.header(k) for k in ("net_cents", "topped_up_yuan", "created_ms", "orders")] == [
        "net",
        "topped up",
        "created",
        "orders",
    ]


def test_report_and_user_list_speak_yuan_and_local_time(
    hub_cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    device, _member_id, card_id = kiosk_and_card(hub_cli, tmp_path)
    hub = open_hub(hub_cli)
    try:
        [result] = hub.ledger.apply_batch(
            [device.incoming(card_id, purchase(2_681_400, pay=Payment.CASH))]
        )
    finally:
        hub.close()
    assert result.accepted
    [row] = hub_cli.json("report", "turnover")
    assert row["net_cents"] == result.net_cents  # --json: the raw figure, unchanged
    shown = hub_cli.ok("report", "turnover")
    assert common.yuan(result.net_cents) in shown and "¥" in shown
    assert str(result.net_cents) not in shown and "net_cents" not in shown

    monkeypatch.setattr("sys.stdin", io.StringIO("a long enough password\n"))
    code, _, err = hub_cli("user", "add", "ann", "--role", "admin", "--password-stdin")
    assert code == 0, err
    [user] = hub_cli.json("user", "list")
    shown = hub_cli.ok("user", "list")
    created = dt.datetime.fromtimestamp(user["created_ms"] / 1000, tz=zoneinfo.ZoneInfo(SHANGHAI))
    assert created.strftime(common.TIME_FORMAT) in shown
    assert str(user["created_ms"]) not in shown


def test_times_follow_the_time_zone_of_the_rules(
    hub_cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rules = json.loads(sample_rules_bytes())
    rules |= {"version": 2, "time_zone": "Europe/London"}
    (tmp_path / "london.json").write_text(json.dumps(rules))
    hub_cli.ok("rules", "load", str(tmp_path / "london.json"), "--force")
    monkeypatch.setattr("sys.stdin", io.StringIO("a long enough password\n"))
    code, _, err = hub_cli("user", "add", "bo", "--role", "admin", "--password-stdin")
    assert code == 0, err
    [user] = hub_cli.json("user", "list")
    london = dt.datetime.fromtimestamp(
        user["created_ms"] / 1000, tz=zoneinfo.ZoneInfo("Europe/London")
    )
    assert london.strftime(common.TIME_FORMAT) in hub_cli.ok("user", "list")


# --- verify --------------------------------------------------------------------------


def test_a_failing_verify_prints_a_summary_and_the_first_problems(hub_cli: Cli) -> None:
    with sqlite3.connect(hub_cli.data / "hub.sqlite3") as conn:
        for n in range(VERIFY_SHOWN_MAX + 5):  # accounts whose balance no leg explains
            conn.execute(
                "INSERT INTO accounts (code, asset, balance) VALUES (?, 'points', 7)",
                (f"s:tampered_{n}",),
            )
    code, out, err = hub_cli("verify")
    assert code == 1, err
    problems = [line for line in out.splitlines() if line.startswith("error: ")]
    assert len(problems) == VERIFY_SHOWN_MAX
    assert "balances that differ from their legs" in out and "25" in out
    assert "... and 5 more: `tapcard hub verify --json`" in out
    assert max(len(line) for line in out.splitlines()) <= common.WIDTH_PIPED_CHARS
    code, out, err = hub_cli("verify", "--json")
    report = json.loads(out)
    assert code == 1 and len(report["errors"]) == VERIFY_SHOWN_MAX + 5  # --json: the full list
    assert report["problems"] == {"balances that differ from their legs": VERIFY_SHOWN_MAX + 5}


def test_progress_only_when_asked_or_on_a_terminal(hub_cli: Cli) -> None:
    code, out, err = hub_cli("verify")
    assert code == 0 and err == ""  # captured stderr is no terminal: no bar
    capsys = hub_cli.capsys
    capsys.readouterr()
    argv = ["hub", "--data", str(hub_cli.data), "--progress", "verify", "--json"]
    assert cli.main(argv) == 0
    out, err = capsys.readouterr()
    assert json.loads(out)["ok"] is True  # stdout stays clean JSON
    steps = len(CHECKS) + 1  # counting, then each check
    assert "verifying the journal" in err and f"{steps}/{steps}" in err


# --- wrong invocations ---------------------------------------------------------------

NOT_LISTENING = "postgresql://tapcard@127.0.0.1:1/hub"  # port 1: nothing listens there
BAD_INVOCATIONS = [  # (argv after `tapcard`, what the one line must say)
    (["hub", "--db", "nosuchdb://", "user", "list"], "runs on SQLite or PostgreSQL"),
    (["hub", "--db", "mysql://root@db/hub", "user", "list"], "not mysql"),
    (["hub", "--db", "::::", "user", "list"], "is not a database URL"),
    (["hub", "--db", "postgres://tapcard@127.0.0.1:1/hub", "user", "list"],
     "cannot reach the database postgresql"),
    (["hub", "--db", NOT_LISTENING, "user", "list"], "check that the server runs"),
    (["hub", "--db", NOT_LISTENING, "migrate"], "cannot reach the database"),
    (["hub", "--db", NOT_LISTENING, "verify"], "cannot reach the database"),
    (["hub", "--db", "sqlite:////no/such/folder/hub.sqlite3", "verify"],
     "the folder /no/such/folder does not exist: create it"),
    (["hub", "no-such-command"], "invalid choice: 'no-such-command'"),
    (["hub"], "the following arguments are required"),
    (["hub", "member", "show", "seven"], "invalid int value: 'seven'"),
    (["hub", "report", "turnover", "--from", "yesterday"], "'yesterday' is not a date"),
    (["hub", "report", "no-such-report"], "invalid choice"),
    (["hub", "verify", "--no-such-flag"], "unrecognized arguments: --no-such-flag"),
    (["hub", "member", "show", "99"], "member 99 does not exist"),
    (["hub", "rules", "load", "/no/such/rules.json"], "cannot read /no/such/rules.json"),
    (["hub", "rules", "load", "--sample"], 'set "version": 2 in the file'),
    (["hub", "restore", "/no/such/backup.sqlite3"], "does not exist"),
    (["hub", "backup", "--keep", "0"], "--keep must be"),
    (["no-such-program"], "invalid choice"),
    (["device", "status", "--data", "/no/such/device"], "error"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("argv", "says"), BAD_INVOCATIONS, ids=[" ".join(a[:4]) for a, _ in BAD_INVOCATIONS]
)
def test_a_wrong_invocation_gets_one_line_and_a_non_zero_exit(
    hub_cli: Cli, argv: list[str], says: str
) -> None:
    if argv[0] == "hub":
        argv = ["hub", "--data", str(hub_cli.data), *argv[1:]]
    capsys = hub_cli.capsys
    capsys.readouterr()
    try:
        code = cli.main(argv)
    except SystemExit as exc:  # argparse's refusals, exit 2 as a shell sees them
        code = exc.code if isinstance(exc.code, int) else 1
    out, err = capsys.readouterr()
    assert code != 0, (argv, out, err)
    assert "Traceback" not in err and out == ""
    [line] = err.strip().splitlines()
    assert says in line, line
    assert "hub restore" not in line  # nothing here is damaged: no advice to restore


def test_a_damaged_database_is_told_to_restore(hub_cli: Cli, tmp_path: Path) -> None:
    damaged = tmp_path / "damaged.sqlite3"
    damaged.write_bytes(b"not a database, whatever the name says" * 100)
    done = run_cli(hub_cli.data, "--db", f"sqlite:///{damaged}", "verify")
    assert done.returncode == 2 and "Traceback" not in done.stderr
    [line] = done.stderr.strip().splitlines()
    assert "cannot be read" in line and "tapcard hub restore" in line


def test_the_real_entry_point_refuses_in_one_line(hub_cli: Cli) -> None:
    import subprocess
    import sys

    tapcard = Path(sys.executable).parent / "tapcard"
    for argv, says in BAD_INVOCATIONS[:4]:
        done = subprocess.run(
            [str(tapcard), "hub", "--data", str(hub_cli.data), *argv[1:]],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == 2, done.stderr
        [line] = done.stderr.strip().splitlines()
        assert says in line and done.stdout == ""
