"""A pytest plugin the harness's tests load into a suites run
(`-p tests.suite_marks`): writes, for every collected test, the capabilities
its `requires` markers name, as JSON to $HARNESS_SUITE_MARKS. The CI net reads
it to tell which capabilities a passed test exercised."""
from __future__ import annotations

import json
import os
from pathlib import Path


def pytest_collection_modifyitems(items):
    path = os.environ.get("HARNESS_SUITE_MARKS")
    if path and items:
        marks = {item.nodeid: sorted({cap for mark in item.iter_markers("requires") for cap in mark.args})
                 for item in items}
        Path(path).write_text(json.dumps(marks))
