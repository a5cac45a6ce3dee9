"""The parts setups are made of, one folder each: its apply, config templates,
the paths it writes, its diagnostics collectors and its version probe.

Each part's apply function declares (`declares`) the Target components it
needs from earlier parts and the ones it provides, so that a recipe is
checked before anything is made (harness.setups.recipes.check) and a part
that did not provide what it declared fails at once."""
from __future__ import annotations

from typing import Callable


def declares(*, needs: tuple[str, ...] = (), provides: tuple[str, ...] = (),
             only_with_role: str | None = None) -> Callable:
    """Mark a part's apply with the Target components it `needs` and
    `provides`; with `only_with_role`, the part is applied only where the
    topology has a host of that role (seed 001's NFS VMs are optional), and
    provides nothing otherwise."""
    def mark(apply: Callable) -> Callable:
        apply.needs, apply.provides = frozenset(needs), frozenset(provides)
        apply.only_with_role = only_with_role
        return apply
    return mark
