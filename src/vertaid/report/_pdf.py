"""Printing a report's HTML to PDF with WeasyPrint (text stays selectable: fonts are embedded).

WeasyPrint is imported only here, when a PDF is asked for: it takes about a second to import, and
nothing else needs it. It is given a URL fetcher that refuses every URL, so a report can never reach
the network or the file system while it is printed.
"""

from __future__ import annotations

__all__ = ["html_to_pdf"]


def html_to_pdf(html: str) -> bytes:
    """Print a self-contained HTML report to PDF."""
    from weasyprint import HTML, URLFetcher  # type: ignore[import-untyped]

    refuse_everything = URLFetcher(allowed_protocols=(), fail_on_errors=True)
    pdf: bytes = HTML(string=html, url_fetcher=refuse_everything).write_pdf()
    return pdf
