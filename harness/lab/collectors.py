"""What a diagnostics collector and a version probe are. Each component
declares its own beside the paths it writes (so a collector can never read
a file the component does not write); harness.setups.observers gathers them,
harness.results runs them."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Collector:
    """One file of a host's bundle: the output of a shell command run there.

    `when` is a shell condition checked on the host first (the daemon is
    there to ask); when it is false the collector is skipped silently. The
    shell functions `host_pids` and `runs NAME` are defined for both.
    """
    file: str
    command: str
    when: str = "true"


@dataclass(frozen=True)
class VersionProbe:
    """How a component running on a host reports its version: `command`,
    run there when a process named `process` is one of the host's."""
    component: str
    process: str
    command: str
