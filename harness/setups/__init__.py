"""Applying a setup: its recipe (harness/setups/recipes.py) run as its graph
(harness/setups/schedule.py) on a lab, giving the Target the suites drive;
each part's and host's start and end on the target's timeline."""
from __future__ import annotations

from harness.lab.progress import Steps
from harness.lab.timeline import applying
from harness.setups import schedule
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

    def apply_part(part: Part) -> None:
        with steps.step(f"{topology.setup}: {part.name}"), applying(target.timeline, part.name):
            part.apply(lab, target, **part.options)
        missing = sorted(name for name in part.provides if not target.provided(name))
        if missing:
            raise PartDidNotProvide(f"recipe {topology.setup}: part {part.name!r} declared "
                                    f"{', '.join(missing)} but did not provide it")

    schedule.run([p for p in recipe if p.applies_to(topology)], apply_part)
    return target
