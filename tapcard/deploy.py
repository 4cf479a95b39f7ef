"""`tapcard deploy units`: writes the systemd units and config files that come with tapcard.

The checkout's `systemd/` folder is their one source; `tapcard/systemd` links to it, so a
checkout, an editable install and a wheel (which has no `systemd/` of its own) all read
the same files, and an installed tapcard can put them where docs/operations.md installs
them from.
"""

from __future__ import annotations

import argparse
import os
import sys
from importlib import resources
from pathlib import Path
from typing import Any, Final

from tapcard.errors import TapcardError

UNITS_DIR: Final = "systemd"  # inside the tapcard package
OUT_DEFAULT: Final = "systemd"  # so the install lines in docs/operations.md work as given
FILE_MODE: Final = 0o644
STAGED_SUFFIX: Final = ".tapcard-new"


def register(sub: Any) -> None:
    deploy = sub.add_parser("deploy", help="files for installing tapcard on a machine")
    cmds = deploy.add_subparsers(dest="deploy_cmd", required=True)
    units = cmds.add_parser("units", help="write the systemd units, udev rule and config files")
    units.add_argument(
        "--out", default=OUT_DEFAULT, help=f"folder to write them to (default ./{OUT_DEFAULT})"
    )


def run(args: argparse.Namespace) -> int:
    out = Path(args.out)
    try:
        written = write_units(out)
    except TapcardError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {len(written)} files to {out}/: {' '.join(p.name for p in written)}")
    return 0


def unit_files() -> dict[str, bytes]:
    """Each unit and config file that ships with this tapcard, by file name."""
    folder = resources.files("tapcard") / UNITS_DIR
    found = {f.name: f.read_bytes() for f in folder.iterdir() if f.is_file()}
    if not found:  # a wheel built without the link: say so rather than write nothing
        raise TapcardError(f"this tapcard was installed without its units (tapcard/{UNITS_DIR})")
    return dict(sorted(found.items()))


def write_units(out: Path) -> list[Path]:
    """Writes every file into `out` (created if missing), replacing older copies.

    All files are staged next to their targets first and renamed into place only once
    every one is written, so a folder that cannot take them is left as it was.
    """
    files = unit_files()
    if out.exists() and not out.is_dir():
        raise TapcardError(f"{out} is not a folder")
    blocked = [name for name in files if (out / name).exists() and not (out / name).is_file()]
    if blocked:
        raise TapcardError(f"{out} has folders where the units go: {', '.join(blocked)}")
    staged: list[Path] = []
    try:
        out.mkdir(parents=True, exist_ok=True)
        for name, data in files.items():
            temp = out / (name + STAGED_SUFFIX)
            staged.append(temp)
            temp.write_bytes(data)
            temp.chmod(FILE_MODE)
    except OSError as exc:
        for temp in staged:
            if temp.is_file():  # not what stood in the way (a folder by that name)
                temp.unlink()
        raise TapcardError(f"cannot write the units to {out}: {exc.strerror or exc}") from exc
    for temp in staged:
        os.replace(temp, temp.with_name(temp.name.removesuffix(STAGED_SUFFIX)))
    return [out / name for name in files]
