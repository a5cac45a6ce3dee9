"""Artifacts: cold build (empty Go caches) per component, and the warm no-op.

    .venv/bin/python benchmarks/artifacts_build.py [--keep DIR]

The cold build runs `harness artifacts build` with GOCACHE, GOMODCACHE and
HARNESS_ARTIFACTS in a fresh temporary directory (so module downloads count,
and the machine's caches are neither used nor touched), then runs it again
for the no-op. Prints seconds per component, the total, the no-op time, the
set's size and the load average (other work on the machine slows a build).
"""
from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from harness.artifacts import build  # noqa: E402
from harness.lab.progress import Steps  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", help="use (and keep) this directory instead of a temporary one")
    args = parser.parse_args()
    work = Path(args.keep or tempfile.mkdtemp(prefix="artifacts-cold-"))
    os.environ.update(GOCACHE=str(work / "gocache"), GOMODCACHE=str(work / "gomod"),
                      HARNESS_ARTIFACTS=str(work / "artifacts"))
    try:
        load_before = os.getloadavg()
        steps = Steps(lambda what, s: s is not None and print(f"{s:8.1f} s  {what}", flush=True))
        start = time.monotonic()
        found, built = build.build(steps)
        cold = time.monotonic() - start
        start = time.monotonic()
        _, again = build.build()
        warm = time.monotonic() - start
        size = sum(p.stat().st_size for p in found.directory.rglob("*")
                   if p.is_file() and not p.is_symlink())
        print(f"cold build {cold:.1f} s (built: {built}); warm no-op {warm * 1000:.1f} ms "
              f"(built again: {again}); set {size / 2**20:.0f} MiB; load average before "
              f"{load_before[0]:.1f}, after {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
