"""The typed dependencies of the routes: the store, the knowledge pack, the CSRF tokens and the API key."""

from __future__ import annotations

import asyncio
import hashlib
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Annotated, Any, Final

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException

from vertaid.domain.pack import KnowledgePack
from vertaid.services.keys import authenticate
from vertaid.services.ports import AssessmentRepository
from vertaid.services.records import PreparedAssessment, StoredAssessment, commit_assessments
from vertaid.store import Store
from vertaid.web._security import CsrfTokens

__all__ = ["ApiKeyName", "Csrf", "KeyCache", "Pack", "StoreDep", "Write", "Writer"]


_Waiting = tuple[PreparedAssessment, Future[StoredAssessment]]
"""An assessment waiting to be committed, and where its request waits for the outcome."""


class Writer:
    """The one thread that commits assessments to the store, as many at a time as are waiting.

    Request handlers prepare their assessment elsewhere (the engine's work runs on many threads) and
    hand it here. While one transaction is being committed, the assessments that arrive queue up; the
    next transaction takes all of them (up to ``max_batch``), so one flush to disk acknowledges many
    writes (group commit) and the rate of writes is no longer bounded by the disk's flush time. Nothing
    waits on purpose to fill a batch: a write that arrives while the store is idle is committed at once.

    The store lets one append through at a time (the audit chain is a sequence); appends racing for it
    from many threads would wait in the database (SQLite's busy handler sleeps and retries, with growing
    pauses), so they queue here, in arrival order, and are chained in that order.
    """

    def __init__(self, store: AssessmentRepository, max_batch: int = 64) -> None:
        self._store = store
        self._max_batch = max_batch
        self._waiting: queue.SimpleQueue[_Waiting] = queue.SimpleQueue()
        self._thread: ThreadPoolExecutor | None = None
        self._starting = threading.Lock()

    @property
    def waiting(self) -> int:
        """How many assessments are queued and not yet being committed."""
        return self._waiting.qsize()

    async def commit(self, prepared: PreparedAssessment) -> StoredAssessment:
        """Store ``prepared`` with its audit record; return it once the transaction holding it committed.

        Raises:
            StoreUnavailable: (or whatever else the commit raised) the transaction holding this assessment
                failed; neither it nor any other assessment of that transaction is stored.
        """
        done: Future[StoredAssessment] = Future()
        self._waiting.put((prepared, done))
        # One turn on the thread per assessment: each turn commits all that wait, so later turns often
        # find nothing left, and none is ever left waiting without a turn to come.
        self._executor().submit(self._commit_waiting)
        return await asyncio.wrap_future(done)

    def _executor(self) -> ThreadPoolExecutor:
        with self._starting:
            if self._thread is None:  # made when first needed: an application may be started again
                self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="vertaid-store-writer")
            return self._thread

    def _commit_waiting(self) -> None:
        batch: list[_Waiting] = []
        while len(batch) < self._max_batch:
            try:
                prepared, done = self._waiting.get_nowait()
            except queue.Empty:
                break
            if done.set_running_or_notify_cancel():  # a request given up before its turn is not stored
                batch.append((prepared, done))
        if not batch:
            return
        try:
            stored = commit_assessments(self._store, [prepared for prepared, _ in batch])
        except BaseException as error:
            # Not committed: every request of the transaction gets the error, none is acknowledged.
            for _, done in batch:
                done.set_exception(error)
            if not isinstance(error, Exception):
                raise
            return
        for (_, done), each in zip(batch, stored, strict=True):
            done.set_result(each)

    def close(self) -> None:
        """Finish the writes under way and stop the thread (until the next write)."""
        with self._starting:
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
"""The thread that commits assessments to the store."""

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
