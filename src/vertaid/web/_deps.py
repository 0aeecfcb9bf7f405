"""The typed dependencies of the routes: the store, the knowledge pack, the CSRF tokens and the API key."""

from __future__ import annotations

import asyncio
import functools
import hashlib
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Annotated, Any, Final, ParamSpec, TypeVar

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException

from vertaid.domain.pack import KnowledgePack
from vertaid.services.keys import authenticate
from vertaid.store import Store
from vertaid.web._security import CsrfTokens

__all__ = ["ApiKeyName", "Csrf", "KeyCache", "Pack", "StoreDep", "Write", "Writer"]


P = ParamSpec("P")
T = TypeVar("T")


class Writer:
    """The one thread that writes to the store, so that writes queue here in arrival order.

    The store lets one append through at a time (the audit chain is a sequence); writers racing for it
    from many threads would wait in the database (SQLite's busy handler sleeps and retries, with growing
    pauses), which makes the slowest answers much slower than the rest.
    """

    def __init__(self) -> None:
        self._thread: ThreadPoolExecutor | None = None

    async def run(self, call: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Run ``call`` on the writing thread, after the writes asked for before it."""
        if self._thread is None:  # made when first needed: an application may be started again
            self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="vertaid-store-writer")
        return await asyncio.get_running_loop().run_in_executor(
            self._thread, functools.partial(call, *args, **kwargs)
        )

    def close(self) -> None:
        """Finish the writes under way and stop the thread (until the next write)."""
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.shutdown(wait=True)


class KeyCache:
    """API keys recently found good, by their sha256, for a minute: a write then needs no key lookup.

    Only keys the store accepted are kept (a flood of wrong keys cannot fill it), at most ``size`` of
    them; a key is looked up again once its minute is over.
    """

    SECONDS: Final = 60.0

    def __init__(self, size: int = 1024) -> None:
        self._size = size
        self._names: dict[bytes, tuple[str, float]] = {}

    @staticmethod
    def _fingerprint(key: str) -> bytes:
        return hashlib.sha256(key.encode("utf-8", "surrogatepass")).digest()

    def name(self, key: str) -> str | None:
        """The name of a key found good within the last minute, else None."""
        held = self._names.get(self._fingerprint(key))
        if held is None or held[1] < time.monotonic():
            return None
        return held[0]

    def remember(self, key: str, name: str) -> None:
        """Keep a key the store accepted, for a minute."""
        if len(self._names) >= self._size:
            self._names.clear()
        self._names[self._fingerprint(key)] = (name, time.monotonic() + self.SECONDS)


def _state(name: str) -> Callable[[Request], Any]:
    """A dependency giving what ``create_app`` put in the application's state under ``name``."""

    def held(request: Request) -> Any:
        return getattr(request.app.state, name)

    return held


StoreDep = Annotated[Store, Depends(_state("store"))]
"""The store the application was made with."""
Pack = Annotated[KnowledgePack, Depends(_state("pack"))]
"""The knowledge pack every assessment is made with."""
Csrf = Annotated[CsrfTokens, Depends(_state("csrf"))]
"""The CSRF tokens of the forms."""
Write = Annotated[Writer, Depends(_state("writer"))]
"""The thread that writes to the store."""

_bearer = HTTPBearer(
    auto_error=False,
    scheme_name="apiKey",
    description="An API key from `vertaid keys create NAME`, as `Authorization: Bearer <key>`.",
)

_CHALLENGE = 'Bearer realm="vertaid"'


async def _api_key_name(
    request: Request,
    store: StoreDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> str:
    """The name of the API key the request presents; 401 when it presents none, or one not issued here."""
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise HTTPException(
            401,
            "Writes need an API key: Authorization: Bearer <key>.",
            headers={"WWW-Authenticate": _CHALLENGE},
        )
    keys: KeyCache = request.app.state.keys
    name = keys.name(credentials.credentials)
    if name is None:
        name = await run_in_threadpool(authenticate, store, credentials.credentials)
        if name is not None:
            keys.remember(credentials.credentials, name)
    if name is None:
        raise HTTPException(
            401,
            "The API key is not one this service issued.",
            headers={"WWW-Authenticate": f'{_CHALLENGE}, error="invalid_token"'},
        )
    return name


ApiKeyName = Annotated[str, Depends(_api_key_name)]
"""The name of the API key that authenticated the request (recorded with what it writes)."""
