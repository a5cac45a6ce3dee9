"""Applying a setup: its recipe (harness/setups/recipes.py), part by part,
to a lab, giving the Target the suites drive."""
from __future__ import annotations

from harness.lab.progress import Steps
from harness.setups.recipes import RECIPES, Part
from harness.setups.target import Target


def apply(lab, steps: Steps | None = None, recipe: list[Part] | None = None) -> Target:
    """Apply the lab's documented setup (or the `recipe` given: a benchmark's
    peer) and return the Target the suites drive."""
    steps = steps or Steps()
    topology = lab.topology
    target = Target(lab, {"lab", *topology.families, *lab.provisioner.capabilities})
    if topology.ssh or any(h.ssh for h in topology.hosts.values()):
        target.capabilities.add("ssh")
    for part in RECIPES[topology.setup] if recipe is None else recipe:
        with steps.step(f"{topology.setup}: {part.name}"):
            part.apply(lab, target, **part.options)
    return target
