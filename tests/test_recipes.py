"""Recipes are checked before anything is made: every shipped recipe is
whole for its shipped topology, a part that needs what no earlier part
provides is refused with nothing made on the lab, and a part that returns
without providing what it declared stops the apply, naming it."""
from __future__ import annotations

from pathlib import Path

import pytest

from harness import setups
from harness.model.topology import load
from harness.setups.parts import declares
from harness.setups.recipes import RECIPES, PartDidNotProvide, RecipeError, check, part

ROOT = Path(__file__).resolve().parent.parent
TOPOLOGIES = sorted((ROOT / "fixtures" / "topologies").glob("*.yaml"))


@pytest.mark.parametrize("path", TOPOLOGIES, ids=lambda p: p.stem)
def test_every_shipped_recipe_is_whole_for_its_topology(path):
    topology = load(path)
    check(RECIPES[topology.setup], topology, topology.setup)


def test_a_part_before_what_it_needs_is_refused_and_nothing_is_made(small_lab):
    recipe = RECIPES["centos-hardway"]
    plane = next(p for p in recipe if p.name == "control plane")
    misordered = [plane, *(p for p in recipe if p is not plane)]
    before = {h.name: h.services() for h in small_lab.hosts.values()}
    with pytest.raises(RecipeError, match=r"part 'control plane' needs etcd, pki, which no earlier "
                                          r"part provides \(provided so far: nothing\)"):
        setups.apply(small_lab, recipe=misordered)
    assert {h.name: h.services() for h in small_lab.hosts.values()} == before


def test_an_optional_part_provides_nothing_to_later_parts(two_hosts):
    """seed 001's frontend is optional: a part needing it on a topology
    without one is refused."""
    frontend = next(p for p in RECIPES["k3s"] if p.name == "frontend")

    @declares(needs=("frontend",))
    def uses_the_frontend(lab, target):
        raise AssertionError("never applied")
    assert not frontend.applies_to(two_hosts)
    with pytest.raises(RecipeError, match="needs frontend"):
        check([frontend, part("uses it", uses_the_frontend)], two_hosts, "test")


def test_a_part_that_does_not_provide_what_it_declared_fails_loudly(small_lab):
    applied = []

    @declares(provides=("etcd",))
    def forgetful(lab, target):
        applied.append(lab.id)

    @declares(needs=("etcd",))
    def after(lab, target):
        applied.append("after")
    with pytest.raises(PartDidNotProvide, match="part 'forgetful etcd' declared etcd but did not provide it"):
        setups.apply(small_lab, recipe=[part("forgetful etcd", forgetful), part("after", after)])
    assert applied == [small_lab.id]


def test_a_function_that_declares_nothing_is_not_a_part():
    with pytest.raises(TypeError, match="declares nothing"):
        part("bare", lambda lab, target: None)
