"""`tapcard hub member edit | merge | duplicates` as HQ staff use them, on SQLite: an
edit shows the ID number only masked, a registration with the same phone in another
spelling ends with an error naming the existing member, and a merge shows what moves
and waits for `--yes`."""

from __future__ import annotations

from tests.hub.test_cli import ID_MASKED, ID_NUMBER, Cli, add_member, db_dump, hub_cli

__all__ = ["hub_cli"]  # the fixture, shared with tests/hub/test_cli.py


def test_edit_and_duplicate_registration(hub_cli: Cli) -> None:
    first = add_member(hub_cli, "Li Wei", "13800000001", "--branch", "shop-1")
    out = hub_cli.json(
        "member", "edit", str(first), "--name", "Li Wei Jr", "--id-number", ID_NUMBER
    )
    assert out["changed"]["name"] == {"old": "Li Wei", "new": "Li Wei Jr"}
    assert out["changed"]["id_number"]["new"] == ID_MASKED
    assert ID_NUMBER not in db_dump(hub_cli.data) and ID_NUMBER not in "".join(hub_cli.outputs)
    line = hub_cli.error("member", "add", "--name", "Li", "--phone", "+86 138-0000-0001")
    assert f"member #{first}" in line and "0001" in line
    line = hub_cli.error("member", "edit", str(first), "--birthday", "1990-13-01")
    assert "YYYY-MM-DD" in line


def test_merge_shows_what_moves_then_merges_with_yes(hub_cli: Cli) -> None:
    a = add_member(hub_cli, "Li Wei", "13800000001")
    b = add_member(hub_cli, "Li W.", "13900000002")
    hub_cli.ok("card", "issue", str(a))
    code, out, err = hub_cli("member", "merge", str(a), str(b), "--reason", "same person")
    assert code == 1 and "--yes" in err and "¥0.00" in out
    assert hub_cli.json("member", "show", str(a))["state"] == "active"
    done = hub_cli.json("member", "merge", str(a), str(b), "--reason", "same person", "--yes")
    assert done["into"] == b and len(done["cards"]) == 1
    assert hub_cli.json("member", "show", str(a))["state"] == "merged"
    assert "already merged" in hub_cli.error(
        "member", "merge", str(a), str(b), "--reason", "same person", "--yes"
    )
    assert hub_cli.json("member", "duplicates") == []
    assert hub_cli.json("verify")["ok"] is True
