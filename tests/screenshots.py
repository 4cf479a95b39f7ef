"""Where the tests save their screenshots.

With TAPCARD_SCREENSHOTS=1 they go to docs/screenshots/, to refresh the committed
pictures; otherwise to a temporary folder removed at exit, so an ordinary test run
leaves the tree clean (the pictures show times and would differ on every run).
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from pathlib import Path

DOCS_SHOTS = Path(__file__).resolve().parents[1] / "docs" / "screenshots"
REFRESH_ENV = "TAPCARD_SCREENSHOTS"

_temporary: list[Path] = []


def shots_dir() -> Path:
    """The folder this run saves screenshots in (created on first use)."""
    if os.environ.get(REFRESH_ENV) == "1":
        folder = DOCS_SHOTS
    else:
        if not _temporary:
            _temporary.append(Path(tempfile.mkdtemp(prefix="tapcard-shots-")))
            atexit.register(shutil.rmtree, _temporary[0], True)
        folder = _temporary[0]
    folder.mkdir(parents=True, exist_ok=True)
    return folder
