"""Loaded by `harness repro` into its pytest run (`-p harness.pytest_plugin.repro_faults`):
before the first test, applies the setup (the `target` fixture) and injects
the case's faults. The faults come as JSON in HARNESS_REPRO_FAULTS."""
from __future__ import annotations

import json
import os

import pytest

from harness.lab import faults


@pytest.fixture(scope="session", autouse=True)
def repro_faults(target):
    """The case's faults, injected once the setup is applied, before any test."""
    for fault in json.loads(os.environ.get("HARNESS_REPRO_FAULTS", "[]")):
        print(f"harness repro: fault injected: {faults.inject(target.lab, fault)}")
