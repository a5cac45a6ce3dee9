"""Config files as jinja2 templates beside the code that writes them: a
part's `templates/` folder (harness/setups/parts/<part>/templates/), the
provisioners' (provisioners/templates/: libvirt's XML)."""
from __future__ import annotations

from functools import cache
from pathlib import Path
from xml.sax.saxutils import escape

import shlex

import jinja2

from harness.lab.net import bracketed


def supervisor_value(value) -> str:
    """A value for a supervisord `environment=K="v"` pair: backslashes and
    quotes escaped (supervisord splits the line with shlex), % doubled."""
    text = str(value).replace("\\", "\\\\").replace('"', '\\"')
    return text.replace("%", "%%")


def xml_text(value) -> str:
    """A value as XML character data (an element's text): &, < and >
    escaped; unlike jinja2's own escape filter, quotes are kept."""
    return escape(str(value))


@cache
def _environment(directory: Path) -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(directory), undefined=jinja2.StrictUndefined,
                             keep_trailing_newline=True, trim_blocks=True, lstrip_blocks=True,
                             autoescape=False)
    env.filters.update(bracketed=bracketed, supervisor_value=supervisor_value, xml_text=xml_text,
                       shell_quote=shlex.quote)
    return env


def render(package_dir: str | Path, name: str, /, **values) -> str:
    """templates/`name` of `package_dir` (a part's folder: Path(__file__).parent)
    rendered with `values`; a value the template names but is not given is an error."""
    return _environment(Path(package_dir) / "templates").get_template(name).render(**values)
