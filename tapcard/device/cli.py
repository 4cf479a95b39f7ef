"""`tapcard device ...`: provision a device, run it headless, look at it, tap sim cards.

The data folder is --data, else $TAPCARD_DEVICE_DATA, else ./data/device.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Final

from tapcard.clock import clock_from_env, today
from tapcard.device.launch import SIM_SOCKET_FILE
from tapcard.errors import TapcardError

DATA_DIR_DEFAULT: Final = "data/device"

RUN_READ_TIMEOUT_MS: Final = 500  # the tap loop looks at the stop flag this often
CONNECT_WAIT_S: Final = 5.0
# A running device rewrites its status at least this often; older means it is not running.
STATUS_FRESH_MS: Final = 60_000

Handler = Callable[[argparse.Namespace], int]


def _data_dir(args: argparse.Namespace) -> Path:
    return Path(args.data or os.environ.get("TAPCARD_DEVICE_DATA", DATA_DIR_DEFAULT))


def _add(cmds: Any, name: str, handler: Handler, help_text: str) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = cmds.add_parser(name, help=help_text)
    parser.add_argument("--data", help="device data folder (default $TAPCARD_DEVICE_DATA)")
    parser.set_defaults(handler=handler)
    return parser


def register(sub: Any) -> None:
    device = sub.add_parser("device", help="the device runtime (kiosk and terminal, headless)")
    cmds = device.add_subparsers(dest="device_cmd", required=True)
    provision = _add(cmds, "provision", cmd_provision, "install a provisioning bundle")
    provision.add_argument("bundle", help="bundle JSON from `tapcard hub device add --out`")
    provision.add_argument(
        "--require-signed", action="store_true", help="refuse a bundle the hub did not sign"
    )
    status = _add(cmds, "status", cmd_status, "reader, link, outbox depth, versions")
    status.add_argument("--json", action="store_true")
    tap = _add(cmds, "tap", cmd_tap, "tap a simulated card on a running device")
    tap.add_argument("card_id", nargs="?", help="card id (omit with --remove)")
    tap.add_argument(
        "--issuer-key",
        help="the hub's issuer key file, to sign the sim credential "
        "(default $TAPCARD_DATA/keys/issuer.key)",
    )
    tap.add_argument("--remove", action="store_true", help="take the card off the reader")
    _add(cmds, "run", cmd_run, "run headless: link, heartbeat, drain, sim reader")
    dead = _add(cmds, "dead-letters", cmd_dead_letters, "intents the hub set aside: list, clear")
    dead.add_argument("--json", action="store_true")
    dead.add_argument("--clear", nargs="+", metavar="TX_ID", help="clear these (after review)")
    dead.add_argument("--clear-all", action="store_true", help="clear every dead letter")
    dead.add_argument("--yes", action="store_true", help="do not ask before clearing")
    gate = _add(cmds, "gate", cmd_gate, "run a gate or wash bay: codes from stdin, a relay")
    gate.add_argument("--relay-pin", type=int, default=17, help="BCM pin of the relay")
    gate.add_argument("--fault-pin", type=int, help="BCM pin of the wash bay's fault input")


def run(args: argparse.Namespace) -> int:
    handler: Handler = args.handler
    try:
        return handler(args)
    except TapcardError as exc:
        from tapcard.device.bundle import BundleError

        hint = ""
        if isinstance(exc, BundleError) and args.device_cmd != "provision":
            hint = "; give --data a provisioned folder (`tapcard device provision BUNDLE`)"
        print(f"error: {exc}{hint}", file=sys.stderr)
        return 2


def cmd_gate(args: argparse.Namespace) -> int:
    from tapcard.device.gate_run import run_gate

    return run_gate(_data_dir(args), args.relay_pin, args.fault_pin, sys.stdin)


def cmd_dead_letters(args: argparse.Namespace) -> int:
    from tapcard.device.dead_letters import dead_letters_command
    from tapcard.device.store import STORE_FILE

    data_dir = _data_dir(args)
    if not (data_dir / STORE_FILE).exists():  # opening the store would create an empty one
        print(
            f"error: no device data in {data_dir}: give --data the folder the device runs from",
            file=sys.stderr,
        )
        return 2
    return dead_letters_command(data_dir, args)


def cmd_provision(args: argparse.Namespace) -> int:
    from tapcard.device.bundle import install_bundle

    data_dir = _data_dir(args)
    bundle = install_bundle(Path(args.bundle), data_dir, require_signed=args.require_signed)
    print(
        f"device {bundle.device_id} ({bundle.kind}, branch {bundle.branch_id}) provisioned "
        f"in {data_dir}; broker {bundle.broker_host}:{bundle.broker_port}"
    )
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    from tapcard.device.bundle import BUNDLE_FILE, Bundle
    from tapcard.device.docstore import DocStore
    from tapcard.device.runtime import DENYLIST_DOC, RULES_DOC, STATUS_DOC
    from tapcard.device.store import DeviceStore

    data_dir = _data_dir(args)
    bundle = Bundle.load(data_dir / BUNDLE_FILE)
    store, docs = DeviceStore(data_dir), DocStore(data_dir)
    try:
        saved = docs.get(STATUS_DOC) or {}
        rules, deny = docs.get(RULES_DOC) or {}, docs.get(DENYLIST_DOC) or {}
        oldest = store.oldest_pending_ms()
        now_ms = clock_from_env().now_ms()
        fresh = bool(saved) and now_ms - saved.get("at_ms", 0) < STATUS_FRESH_MS
        data = {
            "device_id": bundle.device_id,
            "kind": bundle.kind,
            "broker": f"{bundle.broker_host}:{bundle.broker_port}",
            "running": fresh,
            "reader": saved.get("reader", "unknown") if fresh else "not running",
            "link_connected": bool(saved.get("link_connected")) if fresh else False,
            "outbox_depth": store.depth(),
            "outbox_oldest_age_s": max(0, (now_ms - oldest) // 1000) if oldest else 0,
            "seq": store.seq(),
            "rules_version": rules.get("version", 0),
            "denylist_version": deny.get("version", 0),
            "alarms": saved.get("alarms", []) if fresh else [],
        }
    finally:
        store.close()
        docs.close()
    if args.json:
        print(json.dumps(data, indent=2))
    else:
        for key, value in data.items():
            print(f"{key:22} {value}")
    return 0


def sim_uid(card_id: str) -> bytes:
    """A stable 7-byte chip UID for a simulated card."""
    return hashlib.sha256(card_id.encode()).digest()[:7]


def cmd_tap(args: argparse.Namespace) -> int:
    from tapcard.cards.credential import issue_credential
    from tapcard.readers.sim import SimCard, send_sim_command
    from tapcard.wire.keys import signing_key_from_text

    socket_path = str(_data_dir(args) / SIM_SOCKET_FILE)
    if args.remove:
        answer = send_sim_command(socket_path, None)
    else:
        if not args.card_id:
            raise TapcardError("give a card id, or --remove")
        key_file = Path(
            args.issuer_key or Path(os.environ.get("TAPCARD_DATA", "data")) / "keys/issuer.key"
        )
        try:
            issuer = signing_key_from_text(key_file.read_text().strip())
        except OSError as exc:
            raise TapcardError(f"issuer key {key_file}: {exc.strerror}") from None
        uid = sim_uid(args.card_id)
        credential = issue_credential(issuer, args.card_id, uid, today(clock_from_env()))
        try:
            answer = send_sim_command(socket_path, SimCard(uid, credential))
        except OSError as exc:
            raise TapcardError(f"no running device at {socket_path}: {exc.strerror}") from None
    print(answer)
    return 0 if answer == "ok" else 1


def cmd_run(args: argparse.Namespace) -> int:
    from tapcard.device.launch import load_bundle, reader_config
    from tapcard.device.runtime import DeviceRuntime
    from tapcard.readers import ReaderError, open_reader
    from tapcard.readers.base import CardReader

    data_dir = _data_dir(args)
    bundle = load_bundle(data_dir)
    reader: CardReader | None
    try:
        reader = open_reader(reader_config(bundle, data_dir))
    except ReaderError as exc:
        print(f"warning: {exc}; running without a reader", file=sys.stderr)
        reader = None
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    runtime = DeviceRuntime(bundle, data_dir, reader)
    runtime.start()
    print(f"device {bundle.device_id} running (data {data_dir})", flush=True)
    from tapcard import sdnotify

    sdnotify.ready(f"device {bundle.device_id}")
    try:
        _tap_loop(runtime, stop)
    finally:
        sdnotify.stopping()
        runtime.stop()
        if reader is not None:
            reader.close()
    return 0


def _tap_loop(runtime: Any, stop: threading.Event) -> None:
    """Show each tapped card's snapshot until asked to stop (a UI would do more)."""
    from tapcard.sdnotify import Watchdog

    watchdog = Watchdog()  # pinged from this loop, while the link's worker lives
    if runtime.reader is None:
        while not stop.wait(RUN_READ_TIMEOUT_MS / 1000):
            if runtime.link._worker.is_alive():
                watchdog.ping()
        return
    last = ""
    while not stop.is_set():
        if runtime.link._worker.is_alive():
            watchdog.ping()
        try:
            card_id = runtime.read_card(RUN_READ_TIMEOUT_MS)
        except TapcardError as exc:
            print(f"tap refused: {exc}", flush=True)
            time.sleep(RUN_READ_TIMEOUT_MS / 1000)
            continue
        if card_id is None:
            last = ""
            continue
        if card_id != last:
            snapshot, online = runtime.snapshot(card_id)
            balances = snapshot.balances if snapshot else None
            print(
                f"card {card_id} online={online} state={snapshot.state if snapshot else '?'}"
                f" balances={balances}",
                flush=True,
            )
            last = card_id
        runtime.reader.wait_for_removal(RUN_READ_TIMEOUT_MS)
