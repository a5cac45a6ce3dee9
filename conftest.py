# Only wiring: the harness's pytest plugin is registered through the
# `pytest11` entry point in pyproject.toml (harness/pytest_plugin/).
