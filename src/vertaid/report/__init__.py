"""Reports: the patient decision aid and the clinician's report, from one assessment.

Both are built to the International Patient Decision Aid Standards (IPDAS, ``docs/ipdas.md``) as one
self-contained HTML file (inline CSS and SVG), or as a PDF printed from that same HTML. A report renders
an assessment (``vertaid.assessment/1``) and the knowledge pack's words; it never re-decides anything.
Every number it shows is recorded with where it came from (:class:`Traced`).

    >>> report = render_html(assessment, case, pack, Audience.patient)
    >>> report.html, report.trail
"""

from vertaid.report._pdf import html_to_pdf
from vertaid.report._provenance import Traced
from vertaid.report._render import Audience, RenderedReport, html_templates, render_html, stylesheet

__all__ = [
    "Audience",
    "RenderedReport",
    "Traced",
    "html_templates",
    "html_to_pdf",
    "render_html",
    "stylesheet",
]
