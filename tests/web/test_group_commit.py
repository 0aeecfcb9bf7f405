"""Writes under load (issue 4): the web app commits the assessments that wait together, in one transaction
(group commit), and answers each request only after the transaction holding it committed.

A gated store holds the first transaction open until the test has queued the requests it wants in the
next one, so that which requests share a transaction is known, not left to timing.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Coroutine, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from httpx2 import Response

from tests.web.conftest import CONSERVATIVE, KYPHOPLASTY, VERTEBROPLASTY, vignette_case
from vertaid.services.audit import verify_audit
from vertaid.services.keys import create_key
from vertaid.services.ports import AssessmentAppend, AuditEntry
from vertaid.services.records import (
    StoredAssessment,
    get_assessment,
    prepare_assessment,
    recent_assessments,
)
from vertaid.store import Store, StoreUnavailable, open_store
from vertaid.web import create_app
from vertaid.web._deps import Writer

T = TypeVar("T")

ASSESSMENTS = "/api/v1/assessments"
NAMES = (KYPHOPLASTY, VERTEBROPLASTY, CONSERVATIVE)
WAIT_SECONDS = 30.0
"""How long the test waits for the application to reach a state before it fails (never a timing check)."""


class GatedStore(Store):
    """A store whose appends wait at a gate, that records the size of each transaction it is asked to
    append, and that refuses (StoreUnavailable, nothing written) the transactions numbered in ``refuse``."""

    def __init__(self, opened: Store) -> None:
        super().__init__(opened._engine)
        self.gate = threading.Event()
        self.batches: list[int] = []
        self.refuse: set[int] = set()

    def append_assessments(self, appends: Sequence[AssessmentAppend]) -> list[AuditEntry]:
        number = len(self.batches)
        self.batches.append(len(appends))
        if not self.gate.wait(WAIT_SECONDS):
            raise AssertionError("the test never opened the gate")
        if number in self.refuse:
            raise StoreUnavailable("the assessment was not stored: refused by the test")
        return super().append_assessments(appends)


def _until(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WAIT_SECONDS
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"the application never got to: {what}")
        time.sleep(0.005)


@pytest.fixture
def gated(tmp_path: Path) -> Iterator[GatedStore]:
    """A gated store over a fresh SQLite file."""
    opened = open_store(f"sqlite:///{tmp_path / 'vertaid.db'}")
    store = GatedStore(opened)
    try:
        yield store
    finally:
        store.gate.set()
        store.dispose()


def _run_on_a_thread(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine on an event loop of its own, on a thread of its own (the browser tests keep one
    running on the main thread for the whole session)."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coroutine).result(WAIT_SECONDS)


def _writer(app: FastAPI) -> Writer:
    writer: Writer = app.state.writer
    return writer


def _post_together(
    client: TestClient, app: FastAPI, store: GatedStore, key: str, later: int
) -> tuple[Response, list[Response]]:
    """One POST, whose transaction the gate holds open, then ``later`` POSTs queued behind it; the gate
    is opened once all of them wait. Returns the first answer and the later ones."""
    headers = {"Authorization": f"Bearer {key}"}
    with ThreadPoolExecutor(max_workers=later + 1) as pool:
        first = pool.submit(client.post, ASSESSMENTS, json=vignette_case(NAMES[0]), headers=headers)
        _until(lambda: len(store.batches) == 1, "the first transaction")
        rest = [
            pool.submit(client.post, ASSESSMENTS, json=vignette_case(NAMES[i % 3]), headers=headers)
            for i in range(later)
        ]
        _until(lambda: _writer(app).waiting == later, f"{later} assessments waiting")
        store.gate.set()
        return first.result(WAIT_SECONDS), [each.result(WAIT_SECONDS) for each in rest]


def test_assessments_that_wait_are_committed_together_on_one_unbroken_chain(gated: GatedStore) -> None:
    """Twelve requests arriving while a transaction is being committed are committed in the next one,
    together; every answer is 201 with its own stored assessment, and the audit chain is whole."""
    key = create_key(gated, "batch")
    app = create_app(gated)
    with TestClient(app) as client:
        first, rest = _post_together(client, app, gated, key, later=12)

    assert gated.batches == [1, 12]
    answers = [first, *rest]
    assert [answer.status_code for answer in answers] == [201] * 13
    ids = [answer.json()["id"] for answer in answers]
    assert len(set(ids)) == 13
    for answer in answers:
        stored = get_assessment(gated, answer.json()["id"])
        assert stored is not None
        assert stored.key_name == "batch"
        assert answer.json() == {
            "id": stored.id,
            "created_at": stored.created_at.isoformat(),
            **stored.assessment,
        }
    verdict = verify_audit(gated)
    assert (verdict.whole, verdict.records) == (True, 13)


def test_every_acknowledged_assessment_is_read_back_after_a_restart(
    gated: GatedStore, tmp_path: Path
) -> None:
    """Assessments answered 201 from one batched transaction are there, as answered, when a new
    application opens the same SQLite file."""
    key = create_key(gated, "restart")
    app = create_app(gated)
    with TestClient(app) as client:
        first, rest = _post_together(client, app, gated, key, later=5)
    gated.dispose()
    acknowledged = [answer.json() for answer in (first, *rest) if answer.status_code == 201]
    assert len(acknowledged) == 6

    reopened = open_store(f"sqlite:///{tmp_path / 'vertaid.db'}")
    try:
        with TestClient(create_app(reopened)) as client:
            for document in acknowledged:
                assert client.get(f"{ASSESSMENTS}/{document['id']}").json() == document
        assert verify_audit(reopened).whole
    finally:
        reopened.dispose()


def test_a_transaction_that_fails_acknowledges_none_of_its_requests(gated: GatedStore) -> None:
    """When the transaction holding several requests fails, each of them is answered 503 saying nothing
    was stored, and none is stored; the transaction before it stands, and the next write succeeds."""
    key = create_key(gated, "refused")
    gated.refuse = {1}
    app = create_app(gated)
    with TestClient(app) as client:
        first, refused = _post_together(client, app, gated, key, later=4)
        after = client.post(
            ASSESSMENTS, json=vignette_case(CONSERVATIVE), headers={"Authorization": f"Bearer {key}"}
        )

    assert gated.batches == [1, 4, 1]
    assert first.status_code == 201
    for answer in refused:
        assert answer.status_code == 503
        assert answer.headers["content-type"] == "application/problem+json"
        assert "nothing was stored" in answer.json()["detail"]
    assert after.status_code == 201
    stored = [each.id for each in recent_assessments(gated, 100)]
    assert stored == [after.json()["id"], first.json()["id"]]
    verdict = verify_audit(gated)
    assert (verdict.whole, verdict.records) == (True, 2)


def test_a_request_given_up_before_its_turn_is_not_stored(gated: GatedStore) -> None:
    """A write whose request was cancelled (the client went away) while it waited for the transaction
    before it is left out of the next transaction: nothing is stored that nobody waits for."""
    writer = Writer(gated)
    prepared = [prepare_assessment(vignette_case(name), key_name=None) for name in NAMES]

    async def scenario() -> list[StoredAssessment | BaseException]:
        first = asyncio.ensure_future(writer.commit(prepared[0]))
        await asyncio.to_thread(_until, lambda: len(gated.batches) == 1, "the first transaction")
        given_up = asyncio.ensure_future(writer.commit(prepared[1]))
        kept = asyncio.ensure_future(writer.commit(prepared[2]))
        await asyncio.to_thread(_until, lambda: writer.waiting == 2, "two assessments waiting")
        given_up.cancel()
        gated.gate.set()
        return list(await asyncio.gather(first, given_up, kept, return_exceptions=True))

    try:
        first, given_up, kept = _run_on_a_thread(scenario())
    finally:
        writer.close()

    assert isinstance(given_up, asyncio.CancelledError)
    assert isinstance(first, StoredAssessment)
    assert isinstance(kept, StoredAssessment)
    assert gated.batches == [1, 1]
    assert [each.id for each in recent_assessments(gated)] == [kept.id, first.id]
    assert get_assessment(gated, prepared[1].entry.id) is None
    assert verify_audit(gated).whole


def test_closing_the_writer_commits_what_waits_and_a_later_write_starts_it_again(gated: GatedStore) -> None:
    """close() returns once what was queued is committed; the writer serves the next write afterwards
    (an application may be started again)."""
    gated.gate.set()
    writer = Writer(gated)

    async def write(name: str) -> str:
        return (await writer.commit(prepare_assessment(vignette_case(name), key_name=None))).id

    first = _run_on_a_thread(write(KYPHOPLASTY))
    writer.close()
    second = _run_on_a_thread(write(CONSERVATIVE))
    writer.close()

    assert [each.id for each in recent_assessments(gated)] == [second, first]


def test_other_writes_take_their_turn_on_the_writing_thread_in_the_order_asked(gated: GatedStore) -> None:
    """A write run on the writer (the CDS Hooks service's token and feedback writes) runs after the
    assessments queued before it are committed, and before those queued after it."""
    writer = Writer(gated)
    prepared = [prepare_assessment(vignette_case(name), key_name=None) for name in NAMES]

    def count_stored() -> int:
        return len(recent_assessments(gated))

    async def scenario() -> int:
        first = asyncio.ensure_future(writer.commit(prepared[0]))
        await asyncio.to_thread(_until, lambda: len(gated.batches) == 1, "the first transaction")
        before = asyncio.ensure_future(writer.commit(prepared[1]))
        counted = asyncio.ensure_future(writer.run(count_stored))
        after = asyncio.ensure_future(writer.commit(prepared[2]))
        await asyncio.to_thread(_until, lambda: writer.waiting == 3, "three writes waiting")
        gated.gate.set()
        await asyncio.gather(first, before, after)
        return await counted

    try:
        seen = _run_on_a_thread(scenario())
    finally:
        writer.close()

    assert seen == 2
    assert gated.batches == [1, 1, 1]
    assert [each.id for each in recent_assessments(gated)] == [each.entry.id for each in reversed(prepared)]
