"""The argument parser every `tapcard` program uses: a wrong invocation is one line."""

from __future__ import annotations

import argparse
from typing import NoReturn


class OneLineParser(argparse.ArgumentParser):
    """A wrong invocation gets one line (what is wrong and where to look) and exit 2,
    not the usage block; every subcommand's parser is of this class too."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see `{self.prog} --help`)\n")
