"""Printing a report's HTML to PDF with WeasyPrint (text stays selectable: fonts are embedded).

WeasyPrint is imported only here, when a PDF is asked for: it takes about a second to import, and
nothing else needs it. It is given a URL fetcher that refuses every URL, so printing a report can never
reach the network or the file system.
"""

from __future__ import annotations

__all__ = ["html_to_pdf"]


def html_to_pdf(html: str) -> bytes:
    """Print a self-contained HTML report to PDF.

    Raises:
        ValueError: the HTML asks for a resource from outside (a report never does).
    """
    from weasyprint import HTML, URLFetcher
    from weasyprint.urls import FatalURLFetchingError

    refuse_everything = URLFetcher(allowed_protocols=(), fail_on_errors=True)
    try:
        pdf: bytes = HTML(string=html, url_fetcher=refuse_everything).write_pdf()
    except FatalURLFetchingError as error:  # a BaseException in WeasyPrint: made an ordinary error here
        raise ValueError(f"a report loads nothing from outside: {error}") from None
    return pdf
