"""The pages' Jinja2 templates: autoescaped, so every string a user supplied is escaped where it is shown."""

from __future__ import annotations

from functools import cache
from typing import Any

import jinja2
from starlette.responses import HTMLResponse

from vertaid._version import __version__
from vertaid.report import html_templates
from vertaid.web._form import slug

__all__ = ["render_fragment", "render_page"]


@cache
def _environment() -> jinja2.Environment:
    environment = html_templates("vertaid.web")
    environment.globals["version"] = __version__
    environment.filters["slug"] = slug
    return environment


def render_fragment(name: str, **context: Any) -> str:
    """A template rendered to text."""
    return _environment().get_template(name).render(**context)


def render_page(name: str, status: int = 200, **context: Any) -> HTMLResponse:
    """A template rendered as a page."""
    return HTMLResponse(render_fragment(name, **context), status_code=status)
