"""Where the `harness` command writes, and its user-facing error."""
from __future__ import annotations

from rich.console import Console

# Without markup, text such as "[fd00::1]:2379" or "hosts[2]" prints as it
# is (rich would take it for a style tag and drop it); soft-wrapped, a path
# or an address in a message is never broken across lines. Styles are given
# as Text or print(..., style=...).
out = Console(emoji=False, highlight=False, markup=False, soft_wrap=True)
err = Console(stderr=True, emoji=False, highlight=False, markup=False, soft_wrap=True)


class CliError(Exception):
    """A user-facing error: printed without a traceback, exit code 2."""
