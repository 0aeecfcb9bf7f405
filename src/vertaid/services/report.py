"""The report use case: a raw case in, the patient decision aid or the clinician's report out.

The case is validated and assessed exactly as :func:`vertaid.services.assessment.assess` does; the
report then renders that assessment with the same knowledge pack, as HTML or as a PDF printed from the
same HTML.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Any, cast

from vertaid.domain.assessment import assess_case
from vertaid.domain.case import parse_case
from vertaid.domain.pack import KnowledgePack
from vertaid.knowledge import default_pack
from vertaid.report import Audience, RenderedReport, html_to_pdf, render_html

__all__ = ["ReportFormat", "render_report", "report"]


class ReportFormat(StrEnum):
    """The file a report is written as."""

    html = "html"
    pdf = "pdf"


def render_report(
    case: object, audience: Audience | str = Audience.patient, pack: KnowledgePack | None = None
) -> RenderedReport:
    """Assess a case and render its report as HTML, with the trail of every number it shows.

    Raises:
        InvalidCase: with every problem in the case, each naming its JSON path.
    """
    pack = pack if pack is not None else default_pack()
    assessment = assess_case(parse_case(case), pack)
    document = cast(Mapping[str, Any], case)  # parse_case accepted it, so it is a JSON object
    return render_html(assessment, document, pack, Audience(audience))


def report(
    case: object,
    audience: Audience | str = Audience.patient,
    output_format: ReportFormat | str = ReportFormat.html,
    pack: KnowledgePack | None = None,
) -> bytes:
    """The report of a case as the bytes of a file: UTF-8 HTML, or PDF.

    Args:
        case: a ``vertaid.case/1`` object (a dict, as parsed from JSON).
        audience: ``patient`` (the decision aid) or ``clinician``.
        output_format: ``html`` (one self-contained file) or ``pdf``.
        pack: the knowledge pack to use; the pack that ships with vertaid by default.

    Raises:
        InvalidCase: with every problem in the case, each naming its JSON path.
    """
    rendered = render_report(case, audience, pack)
    if ReportFormat(output_format) is ReportFormat.pdf:
        return html_to_pdf(rendered.html)
    return rendered.html.encode("utf-8")
