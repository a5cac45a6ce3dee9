"""Where the time of an apply went: each part's and each host's start and
end, in seconds since the apply began.

A part runs its per-host work through `on_hosts`, which works on the hosts
at once and records each host's span under the part being applied (the
context `applying` set). Every run writes the spans into results.json, and
`benchmarks/cluster_up.py` prints them as a chart."""
from __future__ import annotations

import contextvars
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from typing import Callable, Iterable, Iterator, TypeVar

T = TypeVar("T")
R = TypeVar("R")


@dataclass(frozen=True)
class Span:
    part: str
    #: None for the part as a whole
    host: str | None
    start: float
    end: float


class Timeline:
    def __init__(self) -> None:
        self.origin = time.time()
        self.spans: list[Span] = []
        self._lock = threading.Lock()

    @contextmanager
    def span(self, part: str, host: str | None = None) -> Iterator[None]:
        start = time.time()
        try:
            yield
        finally:
            end = time.time()
            with self._lock:
                self.spans.append(Span(part, host, round(start - self.origin, 3),
                                       round(end - self.origin, 3)))

    def as_records(self) -> list[dict]:
        """The spans in order of their start, for results.json."""
        return [asdict(s) for s in sorted(self.spans, key=lambda s: (s.start, s.host or ""))]


#: the timeline and the part a thread is applying (None outside an apply)
_applying: contextvars.ContextVar[tuple[Timeline, str] | None] = \
    contextvars.ContextVar("applying", default=None)


@contextmanager
def applying(timeline: Timeline, part: str) -> Iterator[None]:
    """Record `part`'s span, and its hosts' spans from `on_hosts` under it."""
    token = _applying.set((timeline, part))
    try:
        with timeline.span(part):
            yield
    finally:
        _applying.reset(token)


def on_hosts(hosts: Iterable[T], work: Callable[[T], R]) -> list[R]:
    """work(host) on every host at once, results in the hosts' order; the
    first error is raised once every host is done. Each host's span goes on
    the timeline of the part being applied."""
    hosts = list(hosts)
    current = _applying.get()

    def one(host: T) -> R:
        if current is None:
            return work(host)
        timeline, part = current
        with timeline.span(part, getattr(host, "name", str(host))):
            return work(host)

    if len(hosts) <= 1:
        return [one(h) for h in hosts]
    with ThreadPoolExecutor(max_workers=len(hosts)) as pool:
        # each thread gets the caller's context (the apply's cancellation among it)
        futures = [pool.submit(contextvars.copy_context().run, one, h) for h in hosts]
        return [f.result() for f in futures]


def chart(records: list[dict], width: int = 48) -> str:
    """The spans as text bars on one time axis, a part's hosts under it."""
    if not records:
        return "(no timeline)"
    total = max(r["end"] for r in records) or 1.0
    label = max(len(r["part"] if r["host"] is None else f"  {r['host']}") for r in records)
    lines = []
    parts = [r for r in records if r["host"] is None]
    for p in sorted(parts, key=lambda r: r["start"]):
        for r in [p, *sorted((r for r in records if r["host"] is not None and r["part"] == p["part"]),
                             key=lambda r: r["start"])]:
            name = r["part"] if r["host"] is None else f"  {r['host']}"
            first = int(r["start"] / total * width)
            length = max(1, int(round((r["end"] - r["start"]) / total * width)))
            bar = " " * first + ("#" if r["host"] is None else "=") * length
            lines.append(f"{name:<{label}} |{bar:<{width}}| {r['start']:6.2f} -> {r['end']:6.2f} s")
    return "\n".join(lines)
