"""The typed dependencies of the routes: the store, the knowledge pack, the CSRF tokens and the API key."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException

from vertaid.domain.pack import KnowledgePack
from vertaid.services.keys import authenticate
from vertaid.store import Store
from vertaid.web._security import CsrfTokens

__all__ = ["ApiKeyName", "Csrf", "Pack", "StoreDep"]


def _store(request: Request) -> Store:
    store: Store = request.app.state.store
    return store


def _pack(request: Request) -> KnowledgePack:
    pack: KnowledgePack = request.app.state.pack
    return pack


def _csrf(request: Request) -> CsrfTokens:
    tokens: CsrfTokens = request.app.state.csrf
    return tokens


StoreDep = Annotated[Store, Depends(_store)]
"""The store the application was made with."""
Pack = Annotated[KnowledgePack, Depends(_pack)]
"""The knowledge pack every assessment is made with."""
Csrf = Annotated[CsrfTokens, Depends(_csrf)]
"""The CSRF tokens of the forms."""

_bearer = HTTPBearer(
    auto_error=False,
    scheme_name="apiKey",
    description="An API key from `vertaid keys create NAME`, as `Authorization: Bearer <key>`.",
)

_CHALLENGE = 'Bearer realm="vertaid"'


async def _api_key_name(
    store: StoreDep, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> str:
    """The name of the API key the request presents; 401 when it presents none, or one not issued here."""
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise HTTPException(
            401,
            "Writes need an API key: Authorization: Bearer <key>.",
            headers={"WWW-Authenticate": _CHALLENGE},
        )
    name = await run_in_threadpool(authenticate, store, credentials.credentials)
    if name is None:
        raise HTTPException(
            401,
            "The API key is not one this service issued.",
            headers={"WWW-Authenticate": f'{_CHALLENGE}, error="invalid_token"'},
        )
    return name


ApiKeyName = Annotated[str, Depends(_api_key_name)]
"""The name of the API key that authenticated the request (recorded with what it writes)."""
