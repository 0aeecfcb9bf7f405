"""The application factory: the pages, the REST API, the security layer and the static files."""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse
from starlette.staticfiles import StaticFiles

from vertaid._version import __version__
from vertaid.domain.pack import KnowledgePack
from vertaid.knowledge import default_pack
from vertaid.services._json_text import MAX_BYTES
from vertaid.store import Store, StoreUnavailable
from vertaid.web import _api, _pages
from vertaid.web._deps import KeyCache, StoreDep, Writer
from vertaid.web._errors import PROBLEM_JSON, http_error, store_unavailable, validation_error
from vertaid.web._request_log import RequestLog
from vertaid.web._schemas import Health
from vertaid.web._security import BodyLimit, CsrfTokens, SecurityHeaders

if TYPE_CHECKING:
    from vertaid.cds import CdsSettings

__all__ = ["SECRET_KEY_VARIABLE", "app_from_environment", "create_app"]

SECRET_KEY_VARIABLE: Final = "VERTAID_SECRET_KEY"
"""The environment variable holding the key that signs the forms' CSRF tokens. Without it each
application makes its own key, so several worker processes, or a restart, need it set to share one."""

_STATIC: Final = Path(__file__).parent / "static"

_DESCRIPTION: Final = """\
Decision support for vertebral compression fractures: kyphoplasty, vertebroplasty, or neither yet.

`POST /api/v1/assessments` assesses a `vertaid.case/1` and stores the `vertaid.assessment/1` with an
append-only, hash-chained audit record. Writes need `Authorization: Bearer <key>` (`vertaid keys create
NAME`). Errors are problem documents (RFC 9457); an invalid case lists every problem by its JSON path,
as `vertaid assess` does.
"""


def _secret(secret_key: bytes | None) -> bytes:
    if secret_key is not None:
        return secret_key
    configured = os.environ.get(SECRET_KEY_VARIABLE)
    if configured:
        return configured.encode("utf-8")
    return secrets.token_bytes(32)


class _Application(FastAPI):
    """FastAPI, with error answers described as what they are: problem documents.

    FastAPI puts an error response's model under ``application/json``; the API sends it as
    ``application/problem+json`` (RFC 9457), so the description says so, and a client or a fuzzer
    checking answers against it checks the real ones.
    """

    def openapi(self) -> dict[str, Any]:
        described = self.openapi_schema is not None
        document = super().openapi()
        if not described:
            for operations in document["paths"].values():
                for operation in operations.values():
                    for response in operation.get("responses", {}).values():
                        content = response.get("content", {})
                        if PROBLEM_JSON in content and "application/json" in content:
                            content[PROBLEM_JSON] = content.pop("application/json")
        return document


def create_app(
    store: Store,
    pack: KnowledgePack | None = None,
    *,
    secret_key: bytes | None = None,
    dispose_store_on_shutdown: bool = False,
    cds: CdsSettings | None = None,
) -> FastAPI:
    """The web application over ``store``.

    Args:
        store: where assessments are kept (``vertaid.store.open_store``); the caller disposes of it,
            unless ``dispose_store_on_shutdown``.
        pack: the knowledge pack to assess with; the pack that ships with vertaid by default.
        secret_key: signs the forms' CSRF tokens; by default ``VERTAID_SECRET_KEY``, else a random key.
        dispose_store_on_shutdown: the application owns the store and disposes of it when it stops.
        cds: the CDS Hooks service's trusted callers and address; by default ``VERTAID_CDS_ISSUERS``
            and ``VERTAID_CDS_BASE_URL``.

    Raises:
        vertaid.cds.CdsConfigurationError: the CDS Hooks configuration cannot be used.
    """
    from vertaid.cds import CdsSettings, install_cds

    cds_settings = cds if cds is not None else CdsSettings.from_environment()

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        try:
            yield
        finally:
            app.state.writer.close()
            if dispose_store_on_shutdown:
                store.dispose()

    app = _Application(
        title="vertaid",
        version=__version__,
        description=_DESCRIPTION,
        docs_url=None,  # the interactive docs load scripts from another site: the OpenAPI JSON is enough
        redoc_url=None,
        openapi_url="/openapi.json",
        lifespan=lifespan,
    )
    app.state.store = store
    app.state.pack = pack if pack is not None else default_pack()
    app.state.csrf = CsrfTokens(_secret(secret_key))
    app.state.writer = Writer(store)
    app.state.keys = KeyCache()

    app.add_middleware(BodyLimit, limit=MAX_BYTES)
    install_cds(app, cds_settings, app.state.pack)  # /cds-services, with its CORS inside the headers
    app.add_middleware(SecurityHeaders)  # outside the rest, so every answer carries the headers
    app.add_middleware(RequestLog)  # added last: outermost, so it logs every answer, even the last-resort 500
    app.add_exception_handler(HTTPException, http_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(StoreUnavailable, store_unavailable)

    app.include_router(_api.router)
    app.include_router(_pages.router)

    @app.get(
        "/healthz",
        tags=["service"],
        summary="Whether the service and its store answer",
        response_model=Health,
        responses={503: {"description": "The store does not answer.", "model": Health}},
    )
    async def healthz(store: StoreDep) -> JSONResponse:
        """200 when the store answers, 503 when it does not."""
        try:
            await run_in_threadpool(store.check)
        except StoreUnavailable:
            return JSONResponse({"status": "unavailable"}, status_code=503)
        return JSONResponse({"status": "ok"})

    app.mount("/static", StaticFiles(directory=_STATIC), name="static")
    return app


def app_from_environment() -> FastAPI:
    """The application over the store ``VERTAID_DATABASE_URL`` names (for ``uvicorn --factory`` and
    worker processes): it opens the store, and disposes of it when it stops. The CDS Hooks service is
    configured by ``VERTAID_CDS_ISSUERS`` and ``VERTAID_CDS_BASE_URL``; the process is readied for its
    calls (``vertaid.cds.warm_up``), as ``vertaid serve`` readies its own."""
    from vertaid.cds import warm_up
    from vertaid.store import open_store

    app = create_app(open_store(), dispose_store_on_shutdown=True)
    warm_up()
    return app
