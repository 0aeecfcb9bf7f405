"""Errors as the client expects them: problem documents (RFC 9457) under ``/api``, pages elsewhere.

No answer ever carries a traceback or an exception's text: the log has those.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from http import HTTPStatus
from typing import Any, Final

from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.types import Scope

from vertaid.domain._shapes import Problem

__all__ = [
    "API_PREFIX",
    "PROBLEM_JSON",
    "http_error",
    "internal_error",
    "is_api",
    "problem_response",
    "store_unavailable",
    "too_large",
    "validation_error",
]

API_PREFIX: Final = "/api/"
PROBLEM_JSON: Final = "application/problem+json"

_log = logging.getLogger("vertaid.web")

# Why a page could not be shown, in words for whoever is at the browser.
_PAGE_WORDS: Final = {
    400: "The request could not be understood.",
    403: "This form could not be accepted. Please go back, reload the page and send it again.",
    404: "There is nothing at this address. The assessment may have been mistyped.",
    405: "This address does not accept that kind of request.",
    409: "This assessment was made with another version of the knowledge pack.",
    503: "The store of assessments does not answer just now; nothing was stored. Please try again shortly.",
    413: "What was sent is larger than 1 MiB; a case is a few kilobytes.",
    422: "Some values could not be accepted.",
}


def is_api(scope: Scope) -> bool:
    """Whether a request is to the REST API (answered with JSON) rather than for a page."""
    path: str = scope["path"]
    return path.startswith(API_PREFIX) or path == API_PREFIX.rstrip("/")


def problem_response(
    status: int,
    detail: str | None = None,
    *,
    problems: Sequence[Problem] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    """A problem document: its status, a title, a detail and, for an invalid case, the problems by path
    (the same paths and messages the command line prints)."""
    body: dict[str, Any] = {"type": "about:blank", "title": HTTPStatus(status).phrase, "status": status}
    if detail is not None:
        body["detail"] = detail
    if problems is not None:
        body["problems"] = [{"path": path, "message": message} for path, message in problems]
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def _page(status: int, detail: str | None = None) -> HTMLResponse:
    from vertaid.web._templates import render_page

    words = detail or _PAGE_WORDS.get(status, "Something went wrong.")
    return render_page("error.html.j2", status, title=HTTPStatus(status).phrase, words=words)


def internal_error(scope: Scope) -> Response:
    """The answer to an error nobody expected: a 500 with no detail."""
    if is_api(scope):
        return problem_response(500, "An internal error occurred; it has been logged.")
    try:
        return _page(500, "Something went wrong on our side. It has been logged; please try again.")
    except Exception:  # the page itself could not be made: plain words will do
        return HTMLResponse(
            "<!DOCTYPE html><title>Error</title><p>Something went wrong.</p>", status_code=500
        )


def too_large(scope: Scope) -> Response:
    """The answer to a body over 1 MiB."""
    if is_api(scope):
        return problem_response(413, "The body is larger than 1 MiB; a case is a few kilobytes.")
    return _page(413)


async def http_error(request: Request, error: Exception) -> Response:
    """An HTTP error (404, 405, 413...) as a problem document or a page."""
    assert isinstance(error, HTTPException)
    headers = dict(error.headers) if error.headers else None
    if is_api(request.scope):
        return problem_response(error.status_code, error.detail, headers=headers)
    response = _page(error.status_code)
    if headers:
        response.headers.update(headers)
    return response


async def store_unavailable(request: Request, error: Exception) -> Response:
    """The store did not answer (``StoreUnavailable``): 503; a write was not stored. The cause goes to
    the log, not to the client."""
    _log.warning("the store did not answer", extra={"reason": str(error)})
    if is_api(request.scope):
        return problem_response(503, "The store does not answer; nothing was stored. Try again shortly.")
    return _page(503)


def _path(location: Sequence[object]) -> str:
    path = ""
    for part in location[1:]:  # the first part says where (query, path, header...)
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path or str(location[0])


async def validation_error(request: Request, error: Exception) -> Response:
    """A request whose parameters (not a case: the case model checks those) are not what the address
    takes, such as ``?view=other``."""
    assert isinstance(error, RequestValidationError)
    problems = [(_path(item["loc"]), str(item["msg"])) for item in error.errors()]
    if is_api(request.scope):
        return problem_response(422, "The request's parameters are not valid.", problems=problems)
    words = "; ".join(f"{path}: {message}" for path, message in problems)
    return _page(400, f"The address is not valid: {words}.")
