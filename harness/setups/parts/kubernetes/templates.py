"""The kube parts' config templates (jinja2 files beside this module)."""
from __future__ import annotations

from pathlib import Path

import jinja2

_ENV = jinja2.Environment(loader=jinja2.FileSystemLoader(Path(__file__).parent / "templates"),
                          undefined=jinja2.StrictUndefined, keep_trailing_newline=True)


def render(name: str, **values) -> str:
    return _ENV.get_template(name).render(**values)
