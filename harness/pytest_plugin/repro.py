"""Loaded by `harness repro` into its pytest run (`-p harness.pytest_plugin.repro`):
before the first test, applies the setup (the `target` fixture) and injects
the case's faults. The faults come as JSON in HARNESS_REPRO_FAULTS."""
from __future__ import annotations

import json
import os

import pytest

from harness.lab import faults

_INJECTED = pytest.StashKey[bool]()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item):
    yield  # the test's own fixtures (the lab among them) are up now
    if item.config.stash.get(_INJECTED, False):
        return
    item.config.stash[_INJECTED] = True
    target = item._request.getfixturevalue("target")
    for fault in json.loads(os.environ.get("HARNESS_REPRO_FAULTS", "[]")):
        print(f"harness repro: fault injected: {faults.inject(target.lab, fault)}")
