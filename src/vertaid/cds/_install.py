"""Putting the CDS Hooks endpoints into the web application: routes, the 401 answer, CORS."""

from __future__ import annotations

import logging
from typing import Final

from fastapi import FastAPI
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from vertaid.cds._auth import Unauthorized
from vertaid.cds._config import CdsSettings
from vertaid.cds._router import PREFIX, CdsRuntime, router
from vertaid.domain.pack import KnowledgePack

__all__ = ["CdsCors", "install_cds"]

_log = logging.getLogger("vertaid.cds")


async def _unauthorized(request: Request, error: Exception) -> Response:
    """A bare 401: no cards, no body, no reason (the log has the reason, never the token)."""
    reason = error.reason if isinstance(error, Unauthorized) else "refused"
    issuer = error.issuer if isinstance(error, Unauthorized) else None
    _log.info("CDS Hooks call refused", extra={"reason": reason, "issuer": issuer})
    return Response(status_code=401, headers={"WWW-Authenticate": "Bearer"})


_CORS_HEADERS: Final = (
    (b"access-control-allow-origin", b"*"),
    (b"access-control-allow-headers", b"Authorization, Content-Type"),
    (b"access-control-allow-methods", b"GET, POST, OPTIONS"),
    (b"access-control-max-age", b"600"),
)


class CdsCors:
    """ASGI middleware: browser-based CDS Hooks clients (the CDS Hooks sandbox) may call ``/cds-services``
    from another site. Calls carry a token, never a cookie, so any origin may ask; preflight requests
    (which carry no token) are answered here."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope.get("path", "")
        if scope["type"] != "http" or not (path == PREFIX or path.startswith(PREFIX + "/")):
            await self.app(scope, receive, send)
            return
        if scope["method"] == "OPTIONS":
            await Response(status_code=204, headers={k.decode(): v.decode() for k, v in _CORS_HEADERS})(
                scope, receive, send
            )
            return

        async def send_with_cors(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *_CORS_HEADERS[:1]]
            await send(message)

        await self.app(scope, receive, send_with_cors)


def install_cds(app: FastAPI, settings: CdsSettings, pack: KnowledgePack) -> None:
    """Add the CDS Hooks endpoints to the web application ``app`` (whose state holds the store, the
    pack and the writer), with the services of ``pack``'s ``cds.yaml``."""
    app.state.cds = CdsRuntime(settings, {service.id: service for service in pack.cds.services})
    app.add_exception_handler(Unauthorized, _unauthorized)
    app.add_middleware(CdsCors)
    app.include_router(router)
