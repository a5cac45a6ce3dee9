"""The tables that hold the harness together stay whole: the suites'
import contract names every module they may not import, every setup has a
recipe, and every part's collectors and version probes are gathered."""
from __future__ import annotations

import importlib
import pkgutil
import tomllib
from pathlib import Path

import harness
import provisioners
import reports
from harness.model.setups import SETUPS
from harness.setups import observers, parts
from harness.setups.recipes import RECIPES

ROOT = Path(__file__).resolve().parent.parent
#: what suites may import: the Target/Host API and the helpers they share
SUITES_MAY_IMPORT = {"harness", "harness.lab", "harness.lab.host", "harness.lab.wait",
                     "harness.lab.net"}


def modules(package) -> list[str]:
    return [package.__name__] + [m.name for m in pkgutil.walk_packages(package.__path__,
                                                                       f"{package.__name__}.")]


def test_the_suites_contract_forbids_every_other_module():
    contracts = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"]
    suites = next(c for c in contracts if c.get("source_modules") == ["suites"])
    forbidden = suites["forbidden_modules"]

    def covered(module: str) -> bool:
        return module in SUITES_MAY_IMPORT or any(module == f or module.startswith(f"{f}.")
                                                  for f in forbidden)
    every = modules(harness) + modules(provisioners) + modules(reports)
    assert [m for m in every if not covered(m)] == []
    assert not [f for f in forbidden if f in SUITES_MAY_IMPORT]


def test_every_setup_has_a_recipe_and_every_recipe_a_setup():
    assert sorted(RECIPES) == sorted(SETUPS)
    assert all(RECIPES.values()), "a recipe without parts"


def test_every_parts_collectors_and_probes_are_gathered():
    for name in modules(parts):
        module = importlib.import_module(name)
        for table, gathered in (("COLLECTORS", observers.COLLECTORS),
                                ("VERSION_PROBES", observers.VERSION_PROBES)):
            missing = [item for item in getattr(module, table, ()) if item not in gathered]
            assert missing == [], f"{name}.{table} is not in harness.setups.observers"
