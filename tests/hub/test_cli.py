"""`tapcard hub ...` as HQ staff use it, on SQLite.

Scenario: an operator initialises a hub, loads the sample rules, adds a branch and
provisions a kiosk (bundle file, mode 0600). Staff register a member with a national
ID number, which must never be shown or stored in full: only the mask and a keyed
hash. They find the member by phone prefix, name, card number and tag, issue a card,
report it lost, replace it, renew the new one, and after a sale reverse its points as
fraud; `verify` proves the journal and every report answers as JSON. Mistakes (an
unknown member, a bad date, a duplicate branch, a broken rules file) end with exit
code 2 and one `error:` line, never a traceback; a tampered database fails `verify`.

Most commands run in-process through `launcher.cli.main` (fast); the ones that check
exit codes and stderr as a shell sees them run `python -m launcher.cli` in a subprocess.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import sqlite3
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from hub import db
from hub.app import Hub
from hub.config import HubConfig
from launcher import cli
from tapcard.domain.engine import add_months
from tapcard.domain.model import Asset, Payment
from tapcard.wire import messages as m
from tapcard.wire.keys import signing_key_from_text, verify_key_from_text, verify_key_text
from tests.clock import pinned_today
from tests.conftest import credit
from tests.hub.support import Device, purchase

ID_NUMBER = "110101199003078515"
ID_MASKED = "1101**********8515"
CLI_TIMEOUT_S = 60
TODAY = pinned_today()


class Cli:
    """Runs `tapcard hub --data DIR ...` in-process and returns (code, stdout, stderr)."""

    def __init__(self, data: Path, capsys: pytest.CaptureFixture[str]) -> None:
        self.data = data
        self.capsys = capsys
        self.outputs: list[str] = []

    def __call__(self, *args: str) -> tuple[int, str, str]:
        self.capsys.readouterr()
        code = cli.main(["hub", "--data", str(self.data), "--actor", "test", *args])
        out, err = self.capsys.readouterr()
        self.outputs += [out, err]
        return code, out, err

    def ok(self, *args: str) -> str:
        code, out, err = self(*args)
        assert code == 0, f"{args} exited {code}: {err}"
        return out

    def json(self, *args: str) -> Any:
        return json.loads(self.ok(*args, "--json"))

    def error(self, *args: str) -> str:
        code, out, err = self(*args)
        assert code == 2, f"{args} exited {code}; stdout {out!r}"
        assert "Traceback" not in err
        [line] = err.strip().splitlines()
        assert line.startswith("error: "), line
        return line


def run_cli(data: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "launcher.cli", "hub", "--data", str(data), *args],
        capture_output=True,
        text=True,
        timeout=CLI_TIMEOUT_S,
        check=False,
    )


@pytest.fixture
def hub_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Cli:
    """A hub with the sample rules and one branch, set up through the CLI."""
    run = Cli(tmp_path / "data", capsys)
    assert "hub initialised" in run.ok("init")
    assert "rule set 1" in run.ok("rules", "load", "--sample")
    assert run.ok("branch", "add", "shop-1", "--name", "Shop one") == "branch shop-1 added\n"
    return run


def open_hub(run: Cli) -> Hub:
    data = run.data
    return Hub.open(HubConfig(data, f"sqlite:///{data / 'hub.sqlite3'}", None))


def db_dump(data: Path) -> str:
    with sqlite3.connect(data / "hub.sqlite3") as conn:
        return "\n".join(conn.iterdump())


def add_member(run: Cli, name: str, phone: str, *extra: str) -> int:
    member_id = run.json("member", "add", "--name", name, "--phone", phone, *extra)["member_id"]
    assert isinstance(member_id, int)
    return member_id


# --- the happy path ------------------------------------------------------------------


def test_init_in_a_subprocess_creates_database_and_private_keys(tmp_path: Path) -> None:
    data = tmp_path / "data"
    done = run_cli(data, "init")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"hub initialised in {data}")
    assert (data / "hub.sqlite3").exists()
    for name in ("hub.key", "issuer.key", "secret.key"):
        assert stat.S_IMODE((data / "keys" / name).stat().st_mode) == 0o600


def test_rules_show_prints_the_loaded_rules(hub_cli: Cli) -> None:
    rules = hub_cli.json("rules", "show")
    assert rules["version"] == 1
    assert [t["name"] for t in rules["tiers"]] == ["regular", "silver", "gold", "platinum"]
    assert rules["fees"]["replacement_cents"] == 1_500
    assert hub_cli.json("rules", "show", "--version", "1") == rules


def test_device_add_writes_a_private_bundle(hub_cli: Cli, tmp_path: Path) -> None:
    out = tmp_path / "kiosk-1.json"
    printed = hub_cli.ok(
        "device", "add", "kiosk-1", "--branch", "shop-1", "--kind", "kiosk", "--out", str(out)
    )
    assert printed == f"device kiosk-1 added; provisioning bundle written to {out}\n"
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    bundle = json.loads(out.read_text())
    assert set(bundle) == {
        "device_id",
        "branch_id",
        "kind",
        "device_key",
        "hub_public_key",
        "issuer_public_key",
        "broker",
        "broker_password",  # the hub runs its own broker here: the device's login on it
    }
    assert len(bundle["broker_password"]) >= 32
    assert (bundle["device_id"], bundle["branch_id"], bundle["kind"]) == (
        "kiosk-1",
        "shop-1",
        "kiosk",
    )
    device_key = signing_key_from_text(bundle["device_key"])
    hub = open_hub(hub_cli)
    try:
        with hub.engine.connect() as conn:
            stored = conn.execute(
                sa.select(db.devices.c.public_key).where(db.devices.c.id == "kiosk-1")
            ).scalar_one()
        assert stored == verify_key_text(device_key.verify_key)
        assert bundle["hub_public_key"] == verify_key_text(hub.secrets.hub_key.verify_key)
        assert bundle["issuer_public_key"] == verify_key_text(hub.secrets.issuer_key.verify_key)
    finally:
        hub.close()
    assert verify_key_from_text(bundle["hub_public_key"])  # well-formed key text
    [listed] = hub_cli.json("device", "list")
    assert (listed["id"], listed["state"], listed["seq_max"]) == ("kiosk-1", "active", 0)


def test_id_number_is_only_ever_masked_and_hashed(hub_cli: Cli) -> None:
    member_id = add_member(
        hub_cli, "Li Wei", "13800000001", "--id-number", ID_NUMBER, "--tag", "vip"
    )
    shown = hub_cli.json("member", "show", str(member_id))
    hub_cli.ok("member", "show", str(member_id))  # the table form too
    hub_cli.json("member", "search", "Li")
    assert shown["id_number_masked"] == ID_MASKED
    assert "id_number_hash" not in shown
    hub = open_hub(hub_cli)
    try:
        expected_hash = hub.secrets.id_number_hash(ID_NUMBER)
        with hub.engine.connect() as conn:
            row = conn.execute(sa.select(db.members)).one()
    finally:
        hub.close()
    assert (row.id_number_masked, row.id_number_hash) == (ID_MASKED, expected_hash)
    assert ID_NUMBER not in db_dump(hub_cli.data)  # no table, audit included, holds it
    assert not [o for o in hub_cli.outputs if ID_NUMBER in o]


def test_member_search_by_phone_name_card_and_tag(hub_cli: Cli) -> None:
    li = add_member(hub_cli, "Li Wei", "13800000001", "--tag", "vip", "--branch", "shop-1")
    ana = add_member(hub_cli, "Ana Silva", "13900000002", "--tag", "fleet")
    card = hub_cli.json("member", "show", str(li))["cards"]
    assert card == []
    card_id = hub_cli.json("card", "issue", str(ana))["card_id"]

    def found(text: str) -> list[int]:
        return [row["id"] for row in hub_cli.json("member", "search", text)]

    # The phone and name are sealed: their blind indexes match the whole value only.
    assert found("13800000001") == [li]
    assert found("+86 138-0000-0001") == [li]
    assert found("138") == []
    assert found("ana  SILVA") == [ana]  # the full name, case and spaces folded
    assert found("Silva") == []
    assert found(card_id) == [ana]
    assert found("vip") == [li]
    assert found("fleet") == [ana]
    assert found("nobody") == []
    [row] = hub_cli.json("member", "search", "Li Wei")
    assert row == {"id": li, "name": "Li Wei", "phone": "13800000001", "tier": "regular",
                   "state": "active"}  # fmt: skip


def test_card_lifecycle_issue_lost_replace_renew(hub_cli: Cli) -> None:
    member_id = add_member(hub_cli, "Li Wei", "13800000001")
    first = hub_cli.json("card", "issue", str(member_id), "--uid", "04a1b2c3d4e5f6")
    assert first == {"card_id": "C100001"}
    assert hub_cli.json("card", "lost", "C100001") == {
        "card_id": "C100001",
        "state": "lost",
        "denylist_version": 1,
    }
    assert hub_cli.json("card", "replace", "C100001") == {
        "old_card": "C100001",
        "new_card": "C100002",
    }
    renewed = hub_cli.json("card", "renew", "C100002")
    expiry = dt.date.fromisoformat(renewed["expires_on"])
    assert expiry == add_months(TODAY, 48)  # from the old expiry, two more years
    view = hub_cli.json("member", "show", str(member_id))
    cards = {c["id"]: c for c in view["cards"]}
    assert cards["C100001"]["state"] == "replaced"
    assert cards["C100001"]["replaced_by"] == "C100002"
    assert cards["C100002"]["state"] == "active"
    assert cards["C100002"]["expires_on"] == renewed["expires_on"]
    # Fees paid in cash: the member's balances are untouched, two fee transfers booked.
    assert view["balances"] == {"cents": 0, "points": 0, "growth": 0}
    assert sorted(h["kind"] for h in view["history"]) == ["renewal", "replacement"]
    assert hub_cli.json("verify")["ok"] is True


def kiosk_and_card(hub_cli: Cli, tmp_path: Path) -> tuple[Device, int, str]:
    """A device added through the CLI (its key from the bundle), a member and a card: a
    terminal, as it sells (by the sample rules a kiosk only redeems)."""
    bundle_path = tmp_path / "kiosk-1.json"
    hub_cli.ok("device", "add", "kiosk-1", "--branch", "shop-1", "--kind", "terminal",
               "--out", str(bundle_path))  # fmt: skip
    key = signing_key_from_text(json.loads(bundle_path.read_text())["device_key"])
    member_id = add_member(hub_cli, "Li Wei", "13800000001")
    card_id = hub_cli.json("card", "issue", str(member_id))["card_id"]
    return Device("kiosk-1", key), member_id, card_id


def test_reverse_points_of_a_sale_then_verify_and_reports(hub_cli: Cli, tmp_path: Path) -> None:
    device, member_id, card_id = kiosk_and_card(hub_cli, tmp_path)
    hub = open_hub(hub_cli)
    try:
        sale = device.incoming(card_id, purchase(19_999, pay=Payment.CASH))
        [result] = hub.ledger.apply_batch([sale])
    finally:
        hub.close()
    assert result.accepted and result.points_earned > 0
    tx_id = str(result.tx_id)
    earned = hub_cli.json("member", "show", str(member_id))["balances"]
    assert earned["points"] == earned["growth"] == result.points_earned

    reversal = hub_cli.json("reverse", tx_id, "--reason", "points farmed with a stolen card")
    assert reversal["reversed"] == tx_id
    after = hub_cli.json("member", "show", str(member_id))
    assert after["balances"] == {"cents": 0, "points": 0, "growth": 0}
    assert {h["kind"] for h in after["history"]} == {"purchase", "reversal"}
    line = hub_cli.error("reverse", tx_id, "--reason", "again")
    assert line == f"error: transfer {tx_id} was already reversed by {reversal['reversal']}"

    report = hub_cli.json("verify")
    assert report["ok"] is True and report["errors"] == []
    assert (report["transfers"], report["results"]) == (2, 1)

    turnover = hub_cli.json("report", "turnover")
    assert turnover == [
        {"branch": "shop-1", "day": TODAY.isoformat(), "net_cents": result.net_cents,
         "orders": 1}
    ]  # fmt: skip
    points = hub_cli.json("report", "points")
    assert points == [{"day": TODAY.isoformat(), "issued": 0, "redeemed": 0}]  # net of reversal
    assert hub_cli.json("report", "cards") == [{"tier": "regular", "state": "active", "cards": 1}]
    assert hub_cli.json("report", "categories", "--branch", "shop-1") == [
        {"category": "grocery", "quantity": 1, "gross_cents": 19_999}
    ]
    hub_cli.ok("branch", "add", "shop-2", "--name", "Shop two")  # a branch with no sales
    assert hub_cli.json("report", "categories", "--branch", "shop-2") == []
    campaigns = hub_cli.json("report", "campaigns", "--from", TODAY.isoformat())
    assert sum(c["cost_cents"] for c in campaigns) == result.discount_cents
    assert hub_cli.json("report", "gaps") == []
    assert hub_cli.json("report", "exceptions") == []
    tomorrow = (TODAY + dt.timedelta(days=1)).isoformat()
    assert hub_cli.json("report", "turnover", "--from", tomorrow) == []


def test_voucher_is_accepted_once_from_the_cli(hub_cli: Cli, tmp_path: Path) -> None:
    """What a car park's exit system would call: yes once, then a one-line refusal."""
    device, member_id, card_id = kiosk_and_card(hub_cli, tmp_path)
    hub = open_hub(hub_cli)
    try:
        credit(hub, member_id, Asset.POINTS, 1_000)
        redeem = device.incoming(card_id, m.Redeem(item="PARK-HOUR", units=2))
        [result] = hub.ledger.apply_batch([redeem])
    finally:
        hub.close()
    assert result.accepted and result.voucher
    used = hub_cli.json("--actor", "exit-gate-2", "voucher", "use", result.voucher.lower())
    assert (used["code"], used["item"], used["units"]) == (result.voucher, "PARK-HOUR", 2)
    assert used["member_id"] == member_id
    again = hub_cli.error("voucher", "use", result.voucher)
    assert again.startswith(f"error: voucher {result.voucher} was already used at ")
    assert hub_cli.error("voucher", "use", "0000-0000-0000") == "error: no voucher 0000-0000-0000"
    assert hub_cli.error("voucher", "use", "nope").startswith(
        "error: 'nope' is not a voucher code: "
    )
    hub = open_hub(hub_cli)
    try:
        with hub.engine.connect() as conn:
            actors = (
                conn.execute(sa.select(db.audit.c.actor).where(db.audit.c.action == "voucher.use"))
                .scalars()
                .all()
            )
    finally:
        hub.close()
    assert actors == ["exit-gate-2"]


# --- bad input ---------------------------------------------------------------------


def test_unknown_member_and_card(hub_cli: Cli) -> None:
    assert hub_cli.error("member", "show", "99").startswith("error: member 99 does not exist: ")
    assert hub_cli.error("card", "issue", "99").startswith("error: member 99 does not exist: ")
    assert hub_cli.error("card", "lost", "C999").startswith("error: card C999 does not exist: ")
    assert hub_cli.error("card", "renew", "C999").startswith("error: card C999 does not exist: ")
    huge = str(2**64)  # no column holds it: unknown, not an overflow traceback
    assert hub_cli.error("member", "show", huge).startswith(
        f"error: member {huge} does not exist: "
    )
    assert hub_cli.error("card", "issue", huge).startswith(f"error: member {huge} does not exist: ")
    assert hub_cli.error("member", "show", "-1").startswith("error: member -1 does not exist: ")


def test_duplicate_branch_and_device(hub_cli: Cli, tmp_path: Path) -> None:
    assert hub_cli.error("branch", "add", "shop-1", "--name", "again").startswith(
        "error: branch shop-1 exists: "
    )
    assert "error: a branch id" in hub_cli.error("branch", "add", "Shop 1", "--name", "x")
    hub_cli.ok("device", "add", "kiosk-1", "--branch", "shop-1", "--kind", "kiosk",
               "--out", str(tmp_path / "b.json"))  # fmt: skip
    assert (
        hub_cli.error("device", "add", "kiosk-1", "--branch", "shop-1", "--kind", "kiosk")
        == "error: device kiosk-1 exists"
    )
    assert (
        hub_cli.error("device", "add", "kiosk-2", "--branch", "nowhere", "--kind", "kiosk")
    ).startswith("error: branch nowhere does not exist: add it with `tapcard hub branch add")


def test_invalid_member_and_card_operations(hub_cli: Cli) -> None:
    line = hub_cli.error("member", "add", "--name", " ", "--phone", "12")
    assert line == "error: name is required (at most 200 characters); phone must be 5-20 digits"
    line = hub_cli.error("member", "add", "--name", "X", "--phone", "13800000001",
                         "--id-number", "123")  # fmt: skip
    assert line == "error: ID number must be 6-32 characters"
    member_id = add_member(hub_cli, "Li Wei", "13800000001")
    card_id = hub_cli.json("card", "issue", str(member_id))["card_id"]
    line = hub_cli.error("card", "renew", card_id, "--fee-paid-by", "stored_value")
    assert line == "error: the member's balance does not cover this"
    hub_cli.ok("card", "lost", card_id, "--json")
    assert hub_cli.error("card", "lost", card_id) == f"error: card {card_id} is already lost"
    assert hub_cli.error("member", "search", " ").startswith("error: give a phone")
    assert hub_cli.json("verify")["ok"] is True  # nothing half-done was committed


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"{not json", "error: rule set is not valid: JSON is malformed"),
        (b'{"version": 2}', "error: rule set is not valid: Object missing required field `name`"),
        (b'{"version": 2, "name": "x", "currency": "yen"}',
         "error: rule set is not valid: currency must be an ISO 4217 code such as CNY"),
        (b'{"version": 2, "name": "x", "tiers": []}',
         "error: rule set is not valid: between 1 and 16 tiers are required"),
        (b'{"version": 1, "name": "x"}', "error: rule set version 1 must be above 1"),
        (b'{"version": "two", "name": "x"}', "error: rule set is not valid: Expected `int`"),
    ],
    ids=["not-json", "missing-name", "bad-currency", "no-tiers", "old-version", "bad-type"],
)  # fmt: skip
def test_bad_rules_files_are_refused(
    hub_cli: Cli, tmp_path: Path, content: bytes, message: str
) -> None:
    path = tmp_path / "rules.json"
    path.write_bytes(content)
    assert hub_cli.error("rules", "load", str(path)).startswith(message)
    assert hub_cli.json("rules", "show")["version"] == 1


def test_rules_load_without_a_source(hub_cli: Cli) -> None:
    assert hub_cli.error("rules", "load") == "error: give a rule set FILE or --sample"


def test_missing_rules_file_is_an_error_line(hub_cli: Cli, tmp_path: Path) -> None:
    hub_cli.error("rules", "load", str(tmp_path / "no-such-rules.json"))


def test_command_on_a_missing_hub(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    line = Cli(tmp_path / "empty", capsys).error("member", "show", "1")
    assert line.startswith("error: ") and "tapcard hub init" in line


# --- as a shell sees it --------------------------------------------------------------


def test_errors_in_a_subprocess_have_no_traceback(hub_cli: Cli, tmp_path: Path) -> None:
    data = hub_cli.data
    bad_rules = tmp_path / "bad.json"
    bad_rules.write_text('{"version": 2, "name": "x", "fees": {"annual_cents": -5}}')
    for args, expected in (
        (("member", "show", "7"), "error: member 7 does not exist"),
        (("rules", "load", str(bad_rules)), "error: rule set is not valid: fees.annual_cents"),
        (("branch", "add", "shop-1", "--name", "x"), "error: branch shop-1 exists"),
    ):
        done = run_cli(data, *args)
        assert done.returncode == 2, (args, done.stderr)
        assert done.stdout == ""
        assert "Traceback" not in done.stderr
        [line] = done.stderr.strip().splitlines()
        assert line.startswith(expected), line
    # A bad date is an argparse usage error: exit 2 and one line saying where to look.
    done = run_cli(data, "member", "add", "--name", "X", "--phone", "13800000001",
                   "--birthday", "2026-02-30")  # fmt: skip
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    [line] = done.stderr.strip().splitlines()
    assert "error: argument --birthday: '2026-02-30' is not a date (YYYY-MM-DD)" in line
    assert line.endswith("(see `tapcard hub member add --help`)")


def test_verify_fails_when_a_balance_was_tampered_with(hub_cli: Cli) -> None:
    member_id = add_member(hub_cli, "Li Wei", "13800000001")
    card_id = hub_cli.json("card", "issue", str(member_id))["card_id"]
    hub_cli.ok("card", "replace", card_id)  # books a fee transfer
    done = run_cli(hub_cli.data, "verify", "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["ok"] is True

    with sqlite3.connect(hub_cli.data / "hub.sqlite3") as conn:
        conn.execute(
            "UPDATE accounts SET balance = balance + 500 WHERE code = ?",
            (f"m:{member_id}:points",),
        )
    done = run_cli(hub_cli.data, "verify", "--json")
    assert done.returncode == 1, done.stderr
    report = json.loads(done.stdout)
    assert report["ok"] is False
    assert report["errors"] == [
        f"account m:{member_id}:points holds 500 but its legs sum to 0",
        f"member {member_id}: 500 points held beyond the expiry buckets",  # never earned
    ]


def test_bundle_key_text_is_base64_of_32_bytes(
    hub_cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TAPCARD_BROKER", raising=False)
    printed = hub_cli.ok("device", "add", "terminal-1", "--branch", "shop-1", "--kind",
                         "terminal")  # fmt: skip
    bundle = json.loads(printed)
    assert len(base64.b64decode(bundle["device_key"], validate=True)) == 32
    assert bundle["broker"] == "127.0.0.1:1883"


def test_staff_card_credential_names_the_staff_id(
    hub_cli: Cli, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import io

    from tapcard.cards.credential import verify_credential

    monkeypatch.setattr("sys.stdin", io.StringIO("2468\n"))
    hub_cli.ok(
        "staff",
        "add",
        "ann",
        "--name",
        "Ann",
        "--branch",
        "shop-1",
        "--role",
        "manager",
        "--pin-stdin",
    )
    credential = bytes.fromhex(hub_cli.ok("staff", "card", "ann", "--uid", "04A1B2C3").strip())
    issuer = open_hub(hub_cli).secrets.issuer_key.verify_key
    assert verify_credential(credential, bytes.fromhex("04a1b2c3"), [issuer]).card_id == "S-ann"
    out = tmp_path / "ann.hex"
    assert "S-ann" in hub_cli.ok("staff", "card", "ann", "--uid", "04a1b2c4", "--out", str(out))
    assert len(out.read_text().strip()) == len(credential.hex())
    assert "no active staff" in hub_cli.error("staff", "card", "zed", "--uid", "04a1b2c3")
