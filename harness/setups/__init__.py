"""Applying a setup: its recipe (harness/setups/recipes.py), part by part,
to a lab, giving the Target the suites drive."""
from __future__ import annotations

from harness.lab.progress import Steps
from harness.setups.recipes import RECIPES, Part, PartDidNotProvide, check
from harness.setups.target import Target


def apply(lab, steps: Steps | None = None, recipe: list[Part] | None = None) -> Target:
    """Apply the lab's documented setup (or the `recipe` given: a benchmark's
    peer) and return the Target the suites drive. A misordered recipe is
    refused before anything is made; a part that did not provide what it
    declared stops the apply, naming it."""
    steps = steps or Steps()
    topology = lab.topology
    recipe = RECIPES[topology.setup] if recipe is None else recipe
    check(recipe, topology, topology.setup)
    target = Target(lab, {"lab", *topology.families, *lab.provisioner.capabilities})
    if topology.ssh or any(h.ssh for h in topology.hosts.values()):
        target.capabilities.add("ssh")
    for part in recipe:
        if not part.applies_to(topology):
            continue
        with steps.step(f"{topology.setup}: {part.name}"):
            part.apply(lab, target, **part.options)
        missing = sorted(name for name in part.provides if not target.provided(name))
        if missing:
            raise PartDidNotProvide(f"recipe {topology.setup}: part {part.name!r} declared "
                                    f"{', '.join(missing)} but did not provide it")
    return target
