"""Kivy's environment, set before Kivy is first imported (it reads it at import)."""

from __future__ import annotations

import importlib.util
import os

KIVY_EXTRA = "kivy"  # pyproject's extra that brings Kivy; an HQ server installs without it


def set_kivy_environment() -> None:
    """No argv parsing, no clipboard probing, a quiet console."""
    os.environ.setdefault("KIVY_NO_ARGS", "1")
    # Kivy probes clipboard tools (xclip, xsel) and prints their absence as tracebacks;
    # a touch kiosk has no clipboard. Its log still goes to the file under KIVY_HOME.
    os.environ.setdefault("KIVY_CLIPBOARD", "dummy")
    if os.environ.get("TAPCARD_LOG", "").upper() != "DEBUG":
        os.environ.setdefault("KIVY_NO_CONSOLELOG", "1")


def kivy_missing(what: str) -> str | None:
    """One line for the user when Kivy is not installed, else None: the screens need it,
    the hub and the headless device programs do not."""
    if importlib.util.find_spec("kivy") is not None:
        return None
    return (
        f"{what} needs Kivy, which is not installed here:"
        f" pip install 'tapcard[{KIVY_EXTRA}]' (in a checkout: bash scripts/setup)"
    )
