"""Kivy's environment, set before Kivy is first imported (it reads it at import)."""

from __future__ import annotations

import os


def set_kivy_environment() -> None:
    """No argv parsing, no clipboard probing, a quiet console."""
    os.environ.setdefault("KIVY_NO_ARGS", "1")
    # Kivy probes clipboard tools (xclip, xsel) and prints their absence as tracebacks;
    # a touch kiosk has no clipboard. Its log still goes to the file under KIVY_HOME.
    os.environ.setdefault("KIVY_CLIPBOARD", "dummy")
    if os.environ.get("TAPCARD_LOG", "").upper() != "DEBUG":
        os.environ.setdefault("KIVY_NO_CONSOLELOG", "1")
