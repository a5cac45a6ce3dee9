"""The upstream [Conformance] tests that cannot run here: the one list.

Each is skipped by its full name (as e2e.test names it), with the reason the
report shows beside it. A test leaves this list when what it needs is built.
"""
from __future__ import annotations

#: full test name -> why it cannot run here
SKIPPED: dict[str, str] = {
    "[sig-api-machinery] Aggregator Should be able to support the 1.17 Sample API Server using the "
    "current Aggregator [Conformance]":
        "needs the sample-apiserver image (k8s.io/sample-apiserver), which is not built here",
}
