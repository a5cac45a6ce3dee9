"""The one waiting helper: every wait has a timeout and says what it awaited."""
from __future__ import annotations

import time
from typing import Callable, TypeVar

T = TypeVar("T")


class WaitTimeout(AssertionError):
    """A wait ran out of time. Carries what was awaited and what was last seen."""

    def __init__(self, what: str, timeout: float, last_seen: str):
        self.what, self.timeout, self.last_seen = what, timeout, last_seen
        super().__init__(f"timed out after {timeout:g}s waiting for {what}; last seen: {last_seen}")


def wait_until(check: Callable[[], T], what: str, timeout: float = 30.0,
               interval: float = 0.1) -> T:
    """Call `check` until it returns something truthy; return that.

    An exception from `check` counts as "not yet" and becomes the last seen
    state, as does a falsy return value.
    """
    deadline = time.monotonic() + timeout
    last_seen = "nothing (never checked)"
    while True:
        try:
            value = check()
            if value:
                return value
            last_seen = repr(value)
        except Exception as exc:  # noqa: BLE001 - any failure is "not yet"
            last_seen = f"{type(exc).__name__}: {exc}"
        if time.monotonic() >= deadline:
            raise WaitTimeout(what, timeout, last_seen)
        time.sleep(interval)
