"""What `tapcard hub` prints for people, and how it refuses a wrong invocation.

Scenario: an HQ operator reads a turnover report and the dashboard users in a terminal:
money in yuan with ¥ and thousands separators, never raw cents; times as the business
time zone's wall clock (the rules' time_zone), never epoch milliseconds; the same
commands with --json print the raw figures for scripts. A damaged journal makes
`verify` print its counts, the problems by kind and the first few, with the full list
in --json. Each long command (verify, backup, restore, import, export, the points and
voucher expiry, loading rules) draws a rich bar on stderr while --json stays clean.
Then every kind of wrong invocation (bad --db URLs, a PostgreSQL that is not listening,
a SQLite file in a missing folder, unknown commands, members, cards, devices, branches,
bad dates and amounts, an old rule set version), at least two for every command group
of `tapcard`, gets one line on stderr that says what to do next, a non-zero exit and no
traceback, and only a database that is really damaged is told to restore a backup.
"""

from __future__ import annotations

import argparse
import collections
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


LONG_COMMANDS = [  # (argv after `tapcard hub --data D --progress`, the bar's label, --json?)
    (["verify", "--json"], "verifying the journal", True),
    (["backup", "--dest", "{tmp}/backups"], "backup", False),
    (["restore", "{backup}"], "restore", False),
    (["import", "{tmp}/members.csv", "--dry-run", "--json"], "members", True),
    (["export", "members", "{tmp}/out.csv"], "members", False),
    (["expire-points", "--yes", "--json"], "expiring points", True),
    (["voucher", "expire", "--json"], "expiring vouchers", True),
    (["rules", "load", "{tmp}/rules.json"], "rules", False),
    (["privacy", "seal", "--json"], "sealing", True),
    (["privacy", "rotate-key", "--json"], "re-sealing", True),
]


@pytest.mark.parametrize(
    ("argv", "label", "as_json"), LONG_COMMANDS, ids=[" ".join(a[:2]) for a, _, _ in LONG_COMMANDS]
)
def test_each_long_command_draws_its_bar_and_keeps_json_clean(
    hub_cli: Cli, tmp_path: Path, argv: list[str], label: str, as_json: bool
) -> None:
    (tmp_path / "members.csv").write_text("姓名,手机\nAnn,13800000001\n", encoding="utf-8")
    rules = json.loads(sample_rules_bytes()) | {"version": 2}
    (tmp_path / "rules.json").write_text(json.dumps(rules))
    data = str(hub_cli.data)
    if argv[0] == "restore":  # into a fresh database: a backup of this hub
        assert cli.main(["hub", "--data", data, "backup", "--dest", str(tmp_path / "b")]) == 0
        [backup] = (tmp_path / "b").iterdir()
        data, argv = str(tmp_path / "fresh"), [argv[0], str(backup)]
    argv = [a.replace("{tmp}", str(tmp_path)) for a in argv]
    capsys = hub_cli.capsys
    capsys.readouterr()
    code = cli.main(["hub", "--data", data, "--progress", *argv])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert label in err and "━" in err, err  # rich's bar, on stderr
    assert "━" not in out and "\x1b[" not in out  # stdout carries the result only
    if as_json:
        json.loads(out)  # still clean JSON


# --- wrong invocations ---------------------------------------------------------------

NOT_LISTENING = "postgresql://tapcard@127.0.0.1:1/hub"  # port 1: nothing listens there
NO_FOLDER = "/no/such/folder"
NO_DEVICE = "/no/such/device"
SEE_HELP = "(see `tapcard"  # argparse's refusal, with where to read the usage
SEARCH_MEMBER = "`tapcard hub member search TEXT`"
ADD_BRANCH = "`tapcard hub branch add ID --name NAME`"
PROVISIONED = "give --data a provisioned folder"
REASON = "give --reason of at least 3 characters"
BAD_INVOCATIONS = [  # (argv after `tapcard`, what the one line must say); {tmp}: a scratch folder
    # the database URL, on any command
    (["hub", "--db", "nosuchdb://", "user", "list"], "runs on SQLite or PostgreSQL"),
    (["hub", "--db", "mysql://root@db/hub", "user", "list"], "not mysql"),
    (["hub", "--db", "::::", "user", "list"], "is not a database URL"),
    (["hub", "--db", "postgres://tapcard@127.0.0.1:1/hub", "user", "list"],
     "cannot reach the database postgresql"),
    (["hub", "--db", NOT_LISTENING, "user", "list"], "check that the server runs"),
    (["hub", "--db", f"sqlite:///{NO_FOLDER}/hub.sqlite3", "verify"],
     f"the folder {NO_FOLDER} does not exist: create it"),
    # the parser itself
    (["hub", "no-such-command"], "invalid choice: 'no-such-command'"),
    (["hub"], "the following arguments are required"),
    (["no-such-program"], "invalid choice"),
    ([], "the following arguments are required"),
    # one group at a time, at least two each
    (["hub", "--db", "nosuchdb://", "init"], "runs on SQLite or PostgreSQL"),
    (["hub", "--db", f"sqlite:///{NO_FOLDER}/hub.sqlite3", "init"], f"mkdir -p {NO_FOLDER}"),
    (["hub", "--db", NOT_LISTENING, "migrate"], "cannot reach the database"),
    (["hub", "--db", "mysql://root@db/hub", "migrate"], "not mysql"),
    (["hub", "serve", "--broker-port", "abc"], "invalid int value: 'abc'"),
    (["hub", "--db", "::::", "serve"], "is not a database URL"),
    (["hub", "user", "add", "ann"], "required: --role"),
    (["hub", "user", "add", "ann", "--role", "king"], "invalid choice: 'king'"),
    (["hub", "user", "add", "ann", "--role", "admin"],
     "no terminal to type the password for ann at: give it on stdin with --password-stdin"),
    (["hub", "branch", "add", "shop-2"], "required: --name"),
    (["hub", "branch", "add", "shop-1", "--name", "Again"], "branch shop-1 exists: give another"),
    (["hub", "device", "add", "k1", "--branch", "nosuch", "--kind", "kiosk"], ADD_BRANCH),
    (["hub", "device", "add", "k1", "--branch", "shop-1", "--kind", "toaster"],
     "invalid choice: 'toaster'"),
    (["hub", "device", "revoke", "nosuch"], "`tapcard hub device list`"),
    (["hub", "device", "http-key", "nosuch"], "`tapcard hub device list`"),
    (["hub", "member", "show", "seven"], "invalid int value: 'seven'"),
    (["hub", "member", "show", "99"],
     f"member 99 does not exist: find the member's id with {SEARCH_MEMBER}"),
    (["hub", "member", "add", "--name", "A", "--phone", "13800000000", "--birthday", "31/02/2020"],
     "'31/02/2020' is not a date (YYYY-MM-DD)"),
    (["hub", "member", "edit", "99", "--name", "X"], SEARCH_MEMBER),
    (["hub", "member", "merge", "98", "99", "--reason", "x", "--yes"], REASON),
    (["hub", "card", "issue", "99"], SEARCH_MEMBER),
    (["hub", "card", "lost", "nosuch-card"], "`tapcard hub member show ID`"),
    (["hub", "card", "issue", "1", "--daily-cents-max", "lots"], "invalid int value: 'lots'"),
    (["hub", "voucher", "use", "NOSUCH"], "give the code as printed on the voucher"),
    (["hub", "voucher", "use"], "required: code"),
    (["hub", "staff", "add", "s1", "--name", "A", "--branch", "shop-1", "--role", "chef"],
     "invalid choice: 'chef'"),
    (["hub", "staff", "add", "s1", "--name", "A", "--branch", "shop-1", "--role", "cashier"],
     "give it on stdin with --pin-stdin"),
    (["hub", "staff", "card", "nosuch", "--uid", "0102"], "`tapcard hub staff list`"),
    (["hub", "rules", "load", "/no/such/rules.json"], "cannot read /no/such/rules.json"),
    (["hub", "rules", "load", "--sample"], 'set "version": 2 in the file'),
    (["hub", "rules", "show", "--version", "99"], "`tapcard hub rules show` prints the latest"),
    (["hub", "verify", "--no-such-flag"], "unrecognized arguments: --no-such-flag"),
    (["hub", "--db", NOT_LISTENING, "verify"], "cannot reach the database"),
    (["hub", "reverse", "abc"], "required: --reason"),
    (["hub", "reverse", "nosuch-tx", "--reason", "x"], REASON),
    (["hub", "maintain", "--today", "2026-13-01"], "'2026-13-01' is not a date"),
    (["hub", "maintain", "--today", "tomorrow"], "'tomorrow' is not a date"),
    (["hub", "report", "turnover", "--from", "yesterday"], "'yesterday' is not a date"),
    (["hub", "report", "no-such-report"], "invalid choice"),
    (["hub", "report", "turnover", "--from", "2026-06-10", "--to", "2026-06-01"],
     "--from 2026-06-10 is after --to 2026-06-01: give the earlier day first"),
    (["hub", "report", "turnover", "--branch", "nosuch"],
     "--branch nosuch is none of the branches (shop-1)"),
    (["hub", "expire-points", "--date", "31-12-2026"], "'31-12-2026' is not a date"),
    (["hub", "expire-points", "--date", "2026-02-30", "--yes"], "'2026-02-30' is not a date"),
    (["hub", "stored-value", "settle", "1", "--pay", "gold", "--reason", "gone"],
     "invalid choice: 'gold'"),
    (["hub", "stored-value", "settle", "99", "--pay", "cash", "--reason", "x", "--yes"], REASON),
    (["hub", "refund"], "required: ref, --reason"),
    (["hub", "refund", "nosuch", "--reason", "wrong item", "--line", "two", "--yes"],
     "give LINE:QUANTITY"),
    (["hub", "product", "add", "sku1", "--category", "food", "--retail", "ten"],
     "'ten' is not an amount in yuan"),
    (["hub", "product", "remove", "nosuch"], "`tapcard hub product list --search TEXT`"),
    (["hub", "product", "list", "--limit", "many"], "invalid int value: 'many'"),
    (["hub", "product", "import", "/no/such/products.csv"],
     "cannot open /no/such/products.csv: No such file or directory; check the path"),
    (["hub", "import", "/no/such/members.csv"], "no file /no/such/members.csv"),
    (["hub", "import", "{tmp}/members.csv", "--tier", "nosuch"], "is not LEGACY=TIER"),
    (["hub", "export", "nothing", "{tmp}/out.csv"], "invalid choice: 'nothing'"),
    (["hub", "export", "members", f"{NO_FOLDER}/out.csv"], "check the path"),
    (["hub", "export", "transactions", "{tmp}/out.csv"], "needs --from and --to"),
    (["hub", "notice", "consent", "99", "--channel", "sms", "--purpose", "marketing",
      "--terms", "v1", "--grant"], SEARCH_MEMBER),
    (["hub", "notice", "replay", "abc"], "invalid int value: 'abc'"),
    (["hub", "notice", "holiday", "2026-02-30", "--zh", "a", "--en", "b"], "is not a date"),
    (["hub", "day"], "required: --branch"),
    (["hub", "day", "--branch", "nosuch"], ADD_BRANCH),
    (["hub", "day", "--branch", "shop-1", "--date", "x"], "'x' is not a date"),
    (["hub", "close-day", "--branch", "shop-1", "--manager", "nosuch", "--yes"],
     "`tapcard hub staff list`"),
    (["hub", "close-day", "--branch", "shop-1"], "required: --manager"),
    (["hub", "broker-config", "--listen", "0.0.0.0:99999"], "is not host:port"),
    (["hub", "broker-config", "--branch", "nosuch"], "--branch needs --hq HOST:PORT"),
    (["hub", "backup", "--keep", "0"], "--keep must be"),
    (["hub", "backup", "--keep", "many"], "invalid int value: 'many'"),
    (["hub", "restore", "/no/such/backup.sqlite3"], "does not exist"),
    (["hub", "restore", "{tmp}/members.csv"], "is not a readable hub database"),
    (["hub", "segment", "add", "vip"], "required: --name"),
    (["hub", "segment", "add", "vip", "--name", "VIP", "--rules", "not json"], "are not JSON"),
    (["hub", "segment", "show", "nosuch"], "see `tapcard hub segment list`"),
    (["hub", "privacy"], "required: privacy_cmd"),
    (["hub", "privacy", "no-such"], "invalid choice: 'no-such'"),
    (["device"], "required: device_cmd"),
    (["device", "provision", "/no/such/bundle"], "cannot be read"),
    (["device", "status", "--data", NO_DEVICE], PROVISIONED),
    (["device", "run", "--data", NO_DEVICE], PROVISIONED),
    (["device", "gate", "--relay-pin", "abc"], "invalid int value: 'abc'"),
    (["device", "dead-letters", "--data", NO_DEVICE], f"no device data in {NO_DEVICE}"),
    (["deploy"], "required: deploy_cmd"),
    (["deploy", "units", "--bogus"], "unrecognized arguments: --bogus"),
    (["deploy", "units", "--out", "{tmp}/members.csv/units"], "cannot write the units"),
    (["kiosk", "--no-such-flag"], "tapcard kiosk: error: unrecognized arguments"),
    (["kiosk", "--data", NO_DEVICE], PROVISIONED),
    (["terminal", "--lang", "fr"], "invalid choice: 'fr'"),
    (["terminal", "--data", NO_DEVICE], PROVISIONED),
    (["demo", "--bogus"], "unrecognized arguments: --bogus"),
    (["demo", "--headless", "--data", "{tmp}/members.csv/demo"],
     "give --data a folder you can write"),
]  # fmt: skip


@pytest.fixture(scope="module")
def refusing_hub(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One hub for the whole table (sample rules, branch shop-1): every invocation in it
    is refused before it changes anything, so they can share it."""
    folder = tmp_path_factory.mktemp("refusing")
    (folder / "members.csv").write_text("name\nAnn\n")  # a file, not a database or folder
    data = folder / "data"
    for argv in (
        ["init"],
        ["rules", "load", "--sample"],
        ["branch", "add", "shop-1", "--name", "S"],
    ):
        assert cli.main(["hub", "--data", str(data), *argv]) == 0
    return data


@pytest.mark.parametrize(
    ("argv", "says"), BAD_INVOCATIONS, ids=[" ".join(a) or "(nothing)" for a, _ in BAD_INVOCATIONS]
)
def test_a_wrong_invocation_gets_one_line_and_a_non_zero_exit(
    refusing_hub: Path, capsys: pytest.CaptureFixture[str], argv: list[str], says: str
) -> None:
    argv = [a.replace("{tmp}", str(refusing_hub.parent)) for a in argv]
    if argv[:1] == ["hub"]:
        argv = ["hub", "--data", str(refusing_hub), *argv[1:]]
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
    if "restore" not in argv:  # nothing here is damaged: no advice to restore
        assert "hub restore" not in line
    assert not Path(NO_DEVICE).exists() and not Path(NO_FOLDER).exists()  # nothing made


def _group(argv: list[str]) -> str:
    """The command group an invocation names: `hub report`, `device`, ..."""
    words = [a for i, a in enumerate(argv) if not a.startswith("-") and not (
        i > 0 and argv[i - 1] in ("--db", "--data"))]  # fmt: skip
    return " ".join(words[:2]) if words[:1] == ["hub"] else " ".join(words[:1])


def test_every_command_group_has_two_wrong_invocations_in_the_table() -> None:
    parser = cli.build_parser()
    [top] = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    [hub_sub] = [
        a for a in top.choices["hub"]._actions if isinstance(a, argparse._SubParsersAction)
    ]
    groups = [g for g in top.choices if g != "hub"] + [f"hub {g}" for g in hub_sub.choices]
    counts = collections.Counter(_group(argv) for argv, _ in BAD_INVOCATIONS)
    assert {g: counts[g] for g in groups if counts[g] < 2} == {}


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
