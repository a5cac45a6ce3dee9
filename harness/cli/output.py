"""Where the `harness` command writes, and its user-facing error."""
from __future__ import annotations

from rich.console import Console

out = Console(emoji=False, highlight=False)
err = Console(stderr=True, emoji=False, highlight=False)


class CliError(Exception):
    """A user-facing error: printed without a traceback, exit code 2."""
