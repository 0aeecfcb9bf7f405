"""What every response carries, and the CSRF check of the forms.

Headers: a Content-Security-Policy that lets a page load scripts, styles and images from this site only
(no inline script, no inline style, no framing), ``X-Content-Type-Options: nosniff``, frame denial for
older browsers, no referrer sent to other sites, and ``Cache-Control: no-store`` on everything but the
static files, since pages and API answers hold health information.

CSRF: a signed double-submit token. A page with a form sets a cookie holding a random token and its
HMAC under the application's secret, and writes the same value into the form; a form post is accepted
only when the two are equal and the signature is good, and, when the browser says where the post came
from (``Origin``), only from this site. The cookie is ``SameSite=Strict`` and ``HttpOnly``.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from typing import Final

from starlette.datastructures import Headers, MutableHeaders
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = [
    "CONTENT_SECURITY_POLICY",
    "CSRF_COOKIE",
    "CSRF_FIELD",
    "BodyLimit",
    "BodyTooLarge",
    "CsrfTokens",
    "SecurityHeaders",
]

CONTENT_SECURITY_POLICY: Final = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "font-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)

_HEADERS: Final = (
    ("content-security-policy", CONTENT_SECURITY_POLICY),
    ("x-content-type-options", "nosniff"),
    ("x-frame-options", "DENY"),
    ("referrer-policy", "same-origin"),  # no-referrer would make browsers send "Origin: null" on form posts
    ("cross-origin-opener-policy", "same-origin"),
    ("cross-origin-resource-policy", "same-origin"),
    ("permissions-policy", "camera=(), microphone=(), geolocation=()"),
)

_log = logging.getLogger("vertaid.web")


class SecurityHeaders:
    """ASGI middleware: the security headers on every response, and a last-resort answer to a failure.

    It sits outside the application's own error handling, so that even a response made for an error
    the application did not expect carries the headers; that response says only that something went
    wrong (the traceback goes to the log, never to the client).
    """

    def __init__(self, app: ASGIApp, static_prefix: str = "/static/") -> None:
        self.app = app
        self.static_prefix = static_prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        cacheable = scope["path"].startswith(self.static_prefix)
        started = False

        async def send_with_headers(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                headers = MutableHeaders(scope=message)
                for name, value in _HEADERS:
                    headers[name] = value
                if not cacheable:
                    headers["cache-control"] = "no-store"
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        except Exception:
            # The request log's line for this request (same request id) has its route; the path, which
            # may hold what a client typed, is not logged.
            _log.exception("unexpected error")
            if started:
                raise
            from vertaid.web._errors import internal_error

            await internal_error(scope)(scope, receive, send_with_headers)


class BodyTooLarge(HTTPException):
    """A request body larger than the limit, found while it was being read."""

    def __init__(self) -> None:
        super().__init__(413, "The body is larger than 1 MiB; a case is a few kilobytes.")


class BodyLimit:
    """ASGI middleware: refuse request bodies over ``limit`` bytes with 413, while reading them.

    A declared ``Content-Length`` over the limit is refused before anything else is done; a body sent
    without one (chunked) is counted as it arrives, and reading stops at the first byte over the limit:
    the body is never held whole first.
    """

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = Headers(scope=scope).get("content-length", "")
        if declared.isdigit() and int(declared) > self.limit:
            from vertaid.web._errors import too_large

            await too_large(scope)(scope, receive, send)
            return
        received = 0

        async def receive_within_limit() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.limit:
                    raise BodyTooLarge()
            return message

        await self.app(scope, receive_within_limit, send)


def _same_origin(request: Request) -> bool:
    """Whether the request came from a page of this site, when the browser says where it came from."""
    origin = request.headers.get("origin")
    if origin is None or origin == "null":
        return origin is None
    host = request.headers.get("host", "")
    return origin.split("://", 1)[-1] == host


CSRF_COOKIE: Final = "vertaid_csrf"
CSRF_FIELD: Final = "csrf_token"


class CsrfTokens:
    """Issues and checks the signed double-submit tokens of the forms."""

    def __init__(self, secret: bytes) -> None:
        self._secret = secret

    def _sign(self, token: str) -> str:
        return hmac.new(self._secret, token.encode("ascii"), hashlib.sha256).hexdigest()

    def _valid(self, value: str) -> bool:
        if "." not in value:
            return False
        token, signature = value.rsplit(".", 1)
        try:
            expected = self._sign(token)
        except UnicodeEncodeError:
            return False
        return hmac.compare_digest(expected, signature)

    def token_for(self, request: Request) -> str:
        """The token for a form on this page: the one the browser holds, if it is good; else a new one."""
        held = request.cookies.get(CSRF_COOKIE)
        if held is not None and self._valid(held):
            return held
        token = secrets.token_urlsafe(32)
        return f"{token}.{self._sign(token)}"

    def set_cookie(self, request: Request, response: Response, value: str) -> None:
        """Give the browser the token's cookie (unless it already holds it)."""
        if request.cookies.get(CSRF_COOKIE) == value:
            return
        response.set_cookie(
            CSRF_COOKIE,
            value,
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
            path="/",
        )

    def accepts(self, request: Request, submitted: str | None) -> bool:
        """Whether a form post carries the token its cookie holds, signed by this application, from
        this site."""
        held = request.cookies.get(CSRF_COOKIE)
        if held is None or submitted is None or not self._valid(held):
            return False
        same_token = hmac.compare_digest(
            held.encode("ascii", "replace"), submitted.encode("ascii", "replace")
        )
        return same_token and _same_origin(request)
