"""How long work reports how far it got, without knowing who watches.

The library calls `progress(what, done, total)`; the CLI draws it as a bar on stderr
(hub/cli/common.py), a service ignores it. `total` 0 means "not known yet"."""

from __future__ import annotations

from collections.abc import Callable

Progress = Callable[[str, int, int], None]  # (what is being done, steps done, steps in all)


def no_progress(_what: str, _done: int, _total: int) -> None:
    """The default: nobody watches."""
