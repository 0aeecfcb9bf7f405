"""The typed dependencies of the routes: the store, the knowledge pack, the CSRF tokens and the API key."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import queue
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Any, Final, ParamSpec, TypeVar

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


P = ParamSpec("P")
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class _Waiting:
    """An assessment waiting to be committed, and the future its request awaits on its event loop."""

    prepared: PreparedAssessment
    loop: asyncio.AbstractEventLoop
    done: asyncio.Future[StoredAssessment]


@dataclass(frozen=True, slots=True)
class _Call:
    """Another write waiting for its turn on the writing thread, and the future its request awaits."""

    call: Callable[[], Any]
    loop: asyncio.AbstractEventLoop
    done: asyncio.Future[Any]


_Settled = list[tuple[asyncio.Future[Any], Any]]
"""Futures of one event loop, each with its result or the exception to raise."""


class Writer:
    """The one thread that commits assessments to the store, as many at a time as are waiting.

    Request handlers prepare their assessment elsewhere (the engine's work) and hand it here. While one
    transaction is being committed, the assessments that arrive queue up; the next transaction takes all
    of them (up to ``max_batch``), so one flush to disk acknowledges many writes (group commit), and the
    rate of writes is no longer bounded by the disk's flush time. Nothing waits on purpose to fill a
    batch: an assessment that arrives while the thread is idle is committed at once.

    The store lets one append through at a time (the audit chain is a sequence); appends racing for it
    from many threads would wait in the database (SQLite's busy handler sleeps and retries, with growing
    pauses), so they queue here, and are chained in the order they arrived. The application's other
    writes (:meth:`run`) take their turn on the same thread, in the same queue.
    """

    def __init__(self, store: AssessmentRepository, max_batch: int = 64) -> None:
        self._store = store
        self._max_batch = max_batch
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._queue: queue.SimpleQueue[_Waiting | _Call | None] = queue.SimpleQueue()

    @property
    def waiting(self) -> int:
        """How many writes are queued and not yet being made."""
        return self._queue.qsize()

    async def commit(self, prepared: PreparedAssessment) -> StoredAssessment:
        """Store ``prepared`` with its audit record; return it once the transaction holding it committed.

        Raises:
            StoreUnavailable: (or whatever else the commit raised) the transaction holding this assessment
                failed; neither it nor any other assessment of that transaction is stored.
        """
        loop = asyncio.get_running_loop()
        done: asyncio.Future[StoredAssessment] = loop.create_future()
        self._put(_Waiting(prepared, loop, done))
        return await done

    async def run(self, call: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Run another write (``call``) on the writing thread, after the writes queued before it."""
        loop = asyncio.get_running_loop()
        done: asyncio.Future[T] = loop.create_future()
        self._put(_Call(functools.partial(call, *args, **kwargs), loop, done))
        return await done

    def _put(self, item: _Waiting | _Call) -> None:
        with self._lock:  # so that close() cannot come between starting the thread and queueing
            if self._thread is None:  # made when first needed: an application may be started again
                self._thread = threading.Thread(
                    target=self._run,
                    args=(self._queue,),
                    name="vertaid-store-writer",
                    # A daemon, so that an application never shut down cannot hang the interpreter's exit;
                    # what it was committing then is not acknowledged (and a transaction is all or none).
                    daemon=True,
                )
                self._thread.start()
            self._queue.put(item)

    def close(self) -> None:
        """Commit what is queued and stop the thread (until the next write)."""
        with self._lock:
            thread, self._thread = self._thread, None
            if thread is None:
                return
            waiting, self._queue = self._queue, queue.SimpleQueue()
            waiting.put(None)  # after everything queued before it
        thread.join()

    def _run(self, waiting: queue.SimpleQueue[_Waiting | _Call | None]) -> None:
        stopping = False
        while not stopping:
            batch: list[_Waiting] = []
            item = waiting.get()  # blocks while nothing waits
            while item is not None:
                if isinstance(item, _Call):
                    self._commit(batch)  # the assessments queued before it go first
                    batch = []
                    _settle_soon(item.loop, [(item.done, _outcome(item.call))])
                elif not item.done.cancelled():  # a request given up before its turn is not stored
                    batch.append(item)
                if len(batch) == self._max_batch:
                    break
                try:
                    item = waiting.get_nowait()
                except queue.Empty:
                    break
            stopping = item is None
            self._commit(batch)

    def _commit(self, batch: list[_Waiting]) -> None:
        if not batch:
            return
        stored = _outcome(lambda: commit_assessments(self._store, [each.prepared for each in batch]))
        # Not committed: every request of the transaction gets the error, none is acknowledged.
        outcomes = [stored] * len(batch) if isinstance(stored, BaseException) else stored
        # One wake-up of each event loop for the whole batch, not one per request.
        settled: dict[asyncio.AbstractEventLoop, _Settled] = {}
        for each, outcome in zip(batch, outcomes, strict=True):
            settled.setdefault(each.loop, []).append((each.done, outcome))
        for loop, results in settled.items():
            _settle_soon(loop, results)


def _outcome(call: Callable[[], T]) -> T | BaseException:
    """What ``call`` returns, or the exception it raised (the thread keeps serving the next writes)."""
    try:
        return call()
    except BaseException as error:
        if not isinstance(error, Exception):  # never raised in a request's task as it is
            return RuntimeError(f"the write was interrupted ({type(error).__name__})")
        return error


def _settle_soon(loop: asyncio.AbstractEventLoop, results: _Settled) -> None:
    with contextlib.suppress(RuntimeError):  # the loop is closed: nobody awaits these any more
        loop.call_soon_threadsafe(_settle, results)


def _settle(results: _Settled) -> None:
    for done, outcome in results:
        if done.done():  # cancelled meanwhile
            continue
        if isinstance(outcome, BaseException):
            done.set_exception(outcome)
        else:
            done.set_result(outcome)


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


def _state(name: str) -> Callable[[Request], Awaitable[Any]]:
    """A dependency giving what ``create_app`` put in the application's state under ``name``."""

    # A coroutine, although it never waits: FastAPI runs a plain function dependency on its thread pool,
    # and those trips there and back took about a seventh of the server's CPU in a profile under load.
    async def held(request: Request) -> Any:
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
        # The store from the state, not as a dependency: a known key (the usual case) never needs it.
        store: Store = request.app.state.store
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
