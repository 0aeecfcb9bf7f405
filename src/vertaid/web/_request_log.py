"""The request log: one line per request answered, with what can be logged about it and nothing else.

A line holds the method, the route's template (``/api/v1/assessments/{assessment_id}``, never the path
itself, which may hold an id or whatever a client typed, nor the query string), the status, the time
taken and a request id, which the answer carries as ``X-Request-ID`` and every other line logged while
the request is answered carries too (so a warning can be matched with its request).
"""

from __future__ import annotations

import logging
import os
import time
from typing import Final

import structlog
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from vertaid.logs import ACCESS_LOGGER

__all__ = ["REQUEST_ID_HEADER", "RequestLog", "route_template"]

REQUEST_ID_HEADER: Final = "x-request-id"

_log = logging.getLogger(ACCESS_LOGGER)


def route_template(scope: Scope) -> str | None:
    """The template of the route that answered (``None`` when none matched: the path is not logged)."""
    route = scope.get("route")
    template = getattr(route, "path_format", None)
    return template if isinstance(template, str) else None


class RequestLog:
    """ASGI middleware, outermost: a request id for each request and, once answered, its line in the log.

    The line is logged at INFO on ``vertaid.access``; when that level is off (``vertaid serve
    --no-access-log``) the request still gets its id and nothing else is done.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        request_id = os.urandom(8).hex()
        header = (REQUEST_ID_HEADER.encode("ascii"), request_id.encode("ascii"))
        status = 500  # unless an answer is started: an error nobody answered

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), header]
            await send(message)

        bound = structlog.contextvars.bind_contextvars(request_id=request_id)
        try:
            await self.app(scope, receive, send_with_id)
        finally:
            structlog.contextvars.reset_contextvars(**bound)
            if _log.isEnabledFor(logging.INFO):
                _log.info(
                    "request",
                    extra={
                        "request_id": request_id,
                        "method": scope["method"],
                        "route": route_template(scope),
                        "status": status,
                        "duration_ms": round((time.perf_counter() - started) * 1000, 2),
                    },
                )
