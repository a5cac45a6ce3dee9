"""The pytest plugins (pytest11 entry points in pyproject.toml): lab and target
fixtures (lab), results and diagnostics bundles (results), repro faults (repro)."""
