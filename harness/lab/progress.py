"""Progress for long steps: each step says what it does and how long it took."""
from __future__ import annotations

import time
from contextlib import contextmanager
from typing import Callable, Iterator

Reporter = Callable[[str, float | None], None]


def silent(step: str, seconds: float | None) -> None:
    """The reporter used when nobody watches."""


class Steps:
    def __init__(self, report: Reporter = silent):
        self.report = report
        self.timings: dict[str, float] = {}

    @contextmanager
    def step(self, what: str) -> Iterator[None]:
        self.report(what, None)
        start = time.monotonic()
        yield
        self.timings[what] = elapsed = time.monotonic() - start
        self.report(what, elapsed)


def rich_reporter(console=None) -> Reporter:
    """Steps as lines on stderr; a step's words print as they are (no markup)."""
    from rich.console import Console
    from rich.text import Text
    console = console or Console(stderr=True, emoji=False, highlight=False, markup=False,
                                 soft_wrap=True)

    def report(step: str, seconds: float | None) -> None:
        if seconds is None:
            console.print(Text.assemble(("…", "dim"), f" {step}"))
        else:
            console.print(Text.assemble(("✓", "green"), f" {step} ", (f"({seconds:.2f}s)", "dim")))
    return report
