"""Rendering of configuration files from the plan, with templates kept beside each role."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import jinja2

ROLES_DIR = Path(__file__).with_name("roles")


@dataclass(frozen=True)
class File:
    """One file a role writes on a host."""

    path: str
    content: str | bytes
    mode: str = "0644"


_env = jinja2.Environment(
    loader=jinja2.FileSystemLoader(str(ROLES_DIR)),
    undefined=jinja2.StrictUndefined,
    keep_trailing_newline=True,
    trim_blocks=True,
    lstrip_blocks=True,
    autoescape=False,
)


def render(role: str, template: str, **context: object) -> str:
    """Render ``roles/<role>/<template>`` with the given context (undefined names fail)."""
    return _env.get_template(f"{role}/{template}").render(**context)
