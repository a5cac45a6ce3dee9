"""A recipe run as its graph: a part starts as soon as every earlier part
that provides something it needs is done, so parts that do not depend on
each other (the NFS server and the control plane, containerd and the
cluster CA) run at the same time.

Each part runs in a thread of its own. When a part fails, no other part
starts, the waits of those running are called off (harness.lab.wait's
Cancelled), and the first failure is raised once they have stopped; a
Ctrl-C calls them off the same way and is raised once they stopped or
STOP_GRACE passed."""
from __future__ import annotations

import contextvars
import queue
import threading
import time
from typing import Callable

from harness.lab.wait import cancelled_by
from harness.setups.recipes import Part


#: seconds the running parts get to stop after a Ctrl-C
STOP_GRACE = 15.0


def dependencies(parts: list[Part]) -> list[list[int]]:
    """For each part, the indices of the earlier parts that provide one of
    its needs (the order recipes.check verified)."""
    return [[j for j, q in enumerate(parts[:i]) if q.provides & p.needs] for i, p in enumerate(parts)]


def run(parts: list[Part], apply_part: Callable[[Part], None]) -> None:
    after = dependencies(parts)
    done: set[int] = set()
    pending = list(range(len(parts)))
    finished: queue.Queue[tuple[int, BaseException | None]] = queue.Queue()
    cancel = threading.Event()
    running = 0
    failure: BaseException | None = None

    def body(index: int) -> None:
        try:
            with cancelled_by(cancel):
                apply_part(parts[index])
        except BaseException as exc:  # noqa: BLE001 - handed to the thread that waits
            finished.put((index, exc))
        else:
            finished.put((index, None))

    try:
        while pending or running:
            if failure is None:
                for index in [i for i in pending if all(d in done for d in after[i])]:
                    pending.remove(index)
                    running += 1
                    threading.Thread(target=contextvars.copy_context().run, args=(body, index),
                                     name=f"part: {parts[index].name}", daemon=True).start()
            if not running:
                break
            index, exc = finished.get()
            running -= 1
            done.add(index)
            # only a failure calls the others off: the first is the one to raise
            if exc is not None and failure is None:
                failure = exc
                cancel.set()
    except BaseException:
        # Ctrl-C: the running parts give up at their next wait; what they are
        # doing on the hosts ends before the lab is taken down (a bounded wait)
        cancel.set()
        deadline = time.monotonic() + STOP_GRACE
        while running and time.monotonic() < deadline:
            try:
                finished.get(timeout=max(0.0, deadline - time.monotonic()))
                running -= 1
            except queue.Empty:
                break
        raise
    if failure is not None:
        raise failure
