"""The one waiting helper: every wait has a timeout and says what it awaited."""
from __future__ import annotations

import contextvars
import threading
import time
from contextlib import contextmanager
from typing import Callable, Iterator, TypeVar

T = TypeVar("T")


class WaitTimeout(AssertionError):
    """A wait ran out of time. Carries what was awaited and what was last seen."""

    def __init__(self, what: str, timeout: float, last_seen: str):
        self.what, self.timeout, self.last_seen = what, timeout, last_seen
        super().__init__(f"timed out after {timeout:g}s waiting for {what}; last seen: {last_seen}")


class Cancelled(RuntimeError):
    """A wait given up because the work it belonged to was called off (a
    part of the same apply failed, or the user pressed Ctrl-C)."""


#: set when the work this context belongs to is called off
_cancel: contextvars.ContextVar[threading.Event | None] = contextvars.ContextVar("cancel", default=None)


@contextmanager
def cancelled_by(event: threading.Event) -> Iterator[None]:
    """Waits in this context (and in contexts copied from it) give up with
    Cancelled once `event` is set."""
    token = _cancel.set(event)
    try:
        yield
    finally:
        _cancel.reset(token)


def wait_until(check: Callable[[], T], what: str, timeout: float = 30.0,
               interval: float = 0.1) -> T:
    """Call `check` until it returns something truthy; return that.

    An exception from `check` counts as "not yet" and becomes the last seen
    state, as does a falsy return value.
    """
    deadline = time.monotonic() + timeout
    last_seen = "nothing (never checked)"
    cancel = _cancel.get()
    while True:
        if cancel is not None and cancel.is_set():
            raise Cancelled(f"gave up waiting for {what}: the apply was called off; last seen: {last_seen}")
        try:
            value = check()
            if value:
                return value
            last_seen = repr(value)
        except Exception as exc:  # noqa: BLE001 - any failure is "not yet"
            last_seen = f"{type(exc).__name__}: {exc}"
        if time.monotonic() >= deadline:
            raise WaitTimeout(what, timeout, last_seen)
        if cancel is not None:
            cancel.wait(interval)
        else:
            time.sleep(interval)
