"""Rendering a report to HTML: one self-contained file, with inline CSS and SVG and nothing to fetch.

Templates are Jinja2 with autoescaping on, so every string a user supplied (the case id) is escaped.
The templates hold structure and headings only; every sentence with clinical content and every number
comes from the view that :mod:`~vertaid.report._patient` or :mod:`~vertaid.report._clinician` builds.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from functools import cache
from importlib import resources
from typing import Any

import jinja2

from vertaid.domain.pack import KnowledgePack
from vertaid.report._clinician import clinician_view
from vertaid.report._patient import patient_view
from vertaid.report._provenance import Traced, Trail
from vertaid.report._sources import source_anchor

__all__ = ["Audience", "RenderedReport", "html_templates", "render_html", "stylesheet"]


class Audience(StrEnum):
    """Who a report is for."""

    patient = "patient"
    clinician = "clinician"


@dataclass(frozen=True, slots=True)
class RenderedReport:
    """A report as HTML, and every piece of text with a number in it, with where it came from."""

    html: str
    trail: tuple[Traced, ...]


def html_templates(package: str) -> jinja2.Environment:
    """The Jinja2 templates in a package's ``templates`` folder, as every HTML vertaid writes uses them:
    autoescaped (every string a user supplied is escaped), and an undefined name is an error."""
    return jinja2.Environment(
        loader=jinja2.PackageLoader(package, "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


@cache
def _environment() -> jinja2.Environment:
    environment = html_templates("vertaid.report")
    environment.filters["anchor"] = source_anchor
    return environment


@cache
def stylesheet() -> str:
    """The reports' stylesheet, for a page that embeds a report (see ``render_html(embedded=True)``)."""
    return (resources.files("vertaid.report") / "templates" / "report.css").read_text(encoding="utf-8")


def render_html(
    assessment: Mapping[str, Any],
    case: Mapping[str, Any],
    pack: KnowledgePack,
    audience: Audience,
    *,
    embedded: bool = False,
) -> RenderedReport:
    """Render the report of an assessment for an audience.

    Args:
        assessment: the ``vertaid.assessment/1`` of ``case``, made with ``pack``.
        case: the valid ``vertaid.case/1`` document the assessment is of.
        pack: the knowledge pack the assessment was made with.
        audience: ``patient`` (the decision aid) or ``clinician`` (the clinician's report).
        embedded: give the report's content only, for a page of its own that links :func:`stylesheet`
            (the web application, whose Content-Security-Policy allows no inline style); otherwise one
            self-contained HTML file.
    """
    if assessment["knowledge"]["digest"] != pack.digest:
        raise ValueError("the assessment was made with another knowledge pack")
    trail = Trail(pack.origins)
    build = patient_view if audience is Audience.patient else clinician_view
    view = build(trail, pack, assessment, case)
    template = _environment().get_template(f"{audience.value}.html.j2")
    layout = "embedded.html.j2" if embedded else "base.html.j2"
    return RenderedReport(template.render(view=view, layout=layout), tuple(trail.entries))
