"""Crash consistency (issue 7): the real server killed mid-stream loses no acknowledged write.

``vertaid serve`` runs as a process of its own over a store (an SQLite file, or a PostgreSQL schema),
writers on several threads POST assessments to it, and the server's whole process group is sent SIGKILL
while they are still writing: no shutdown, no flush, requests cut off half-way. A new server on the same
store must then give back every assessment it had answered 201, byte for byte as it answered it, store
nothing it never saw whole, and ``vertaid audit verify`` must find the trail whole. Then a stored record is
changed behind the database's triggers, and ``vertaid audit verify`` must name it and exit 1.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

import httpx
import pytest

from tests.store.conftest import VIGNETTES, Database, vignette_case
from tests.web.conftest import free_port
from vertaid.services.keys import create_key
from vertaid.services.records import record_assessment
from vertaid.store import open_store

VERTAID: Final = Path(sys.executable).with_name("vertaid")
ASSESSMENTS: Final = "/api/v1/assessments"
CASES: Final = [vignette_case(path.name) for path in sorted(VIGNETTES.glob("*.json"))]

WRITERS: Final = 8
"""Concurrent writer threads: more than the server's writing thread takes in one batch at this rate,
so that the kill finds transactions being committed and requests queued behind them."""
ACKNOWLEDGED_BEFORE_KILL: Final = 60
"""The server is killed once this many writes have been acknowledged (the writers never pause)."""
PATIENCE: Final = 60.0
"""Seconds the test waits for a server to answer or for writes to be acknowledged before it fails (a
bound on a stuck test, never a timing check)."""


def _environment(database_url: str) -> dict[str, str]:
    environment = {key: value for key, value in os.environ.items() if not key.startswith("VERTAID_")}
    environment["VERTAID_DATABASE_URL"] = database_url
    return environment


@dataclass
class _Server:
    """A ``vertaid serve`` process group and the address it serves."""

    process: subprocess.Popen[bytes]
    base_url: str

    def kill(self) -> None:
        """SIGKILL to every process of the server (the supervisor and its workers) at once."""
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=PATIENCE)


@contextmanager
def _serving(database_url: str, log: Path, workers: int) -> Iterator[_Server]:
    """``vertaid serve`` on a free loopback port, in a process group of its own, once it answers."""
    port = free_port()
    with log.open("ab") as output:
        process = subprocess.Popen(
            [
                str(VERTAID),
                "serve",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--no-access-log",
                "--workers",
                str(workers),
            ],
            env=_environment(database_url),
            stdout=output,
            stderr=output,
            start_new_session=True,  # its own process group: the kill reaches every worker
        )
    server = _Server(process, f"http://127.0.0.1:{port}")
    try:
        deadline = time.monotonic() + PATIENCE
        while True:
            if process.poll() is not None:
                pytest.fail(f"vertaid serve exited with {process.returncode}:\n{log.read_text()}")
            try:
                if httpx.get(f"{server.base_url}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"vertaid serve did not answer:\n{log.read_text()}")
            time.sleep(0.05)
        yield server
    finally:
        if process.poll() is None:
            server.kill()


@dataclass
class _Writes:
    """What the writers saw: each acknowledged write's id and the exact body answered, the case ids of
    requests cut off by the kill, and any answer that was neither 201 nor a cut connection."""

    acknowledged: dict[str, bytes] = field(default_factory=dict)
    cut_off: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def count(self) -> int:
        with self.lock:
            return len(self.acknowledged)


def _write_until_cut_off(base_url: str, key: str, writer: int, writes: _Writes) -> None:
    """POST cases, each with a case id of its own, until the server stops answering."""
    with httpx.Client(base_url=base_url, headers={"Authorization": f"Bearer {key}"}, timeout=30) as client:
        for number in range(100_000):
            case_id = f"writer-{writer}-{number}"
            case = CASES[number % len(CASES)] | {"id": case_id}
            try:
                response = client.post(ASSESSMENTS, json=case)
            except httpx.TransportError:
                with writes.lock:
                    writes.cut_off.append(case_id)
                return
            with writes.lock:
                if response.status_code == 201:
                    writes.acknowledged[response.json()["id"]] = response.content
                else:
                    writes.unexpected.append(f"{case_id}: {response.status_code} {response.text[:200]}")
                    return


def _write_and_kill(server: _Server, key: str) -> _Writes:
    """Writers on every thread until ``ACKNOWLEDGED_BEFORE_KILL`` writes are acknowledged; then SIGKILL."""
    writes = _Writes()
    threads = [
        threading.Thread(target=_write_until_cut_off, args=(server.base_url, key, writer, writes))
        for writer in range(WRITERS)
    ]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + PATIENCE
    while writes.count() < ACKNOWLEDGED_BEFORE_KILL and not writes.unexpected:
        assert time.monotonic() < deadline, "the writes were not acknowledged in time"
        time.sleep(0.005)
    server.kill()
    for thread in threads:
        thread.join(timeout=PATIENCE)
    return writes


def _audit_verify(database_url: str) -> subprocess.CompletedProcess[str]:
    """``vertaid audit verify``, run as a user would."""
    return subprocess.run(
        [str(VERTAID), "audit", "verify"],
        env=_environment(database_url),
        capture_output=True,
        text=True,
        timeout=PATIENCE,
        check=False,
    )


def _sequence_of(database: Database, assessment_id: str) -> int:
    [(sequence,)] = database.rows(
        "SELECT sequence FROM audit_records WHERE assessment_id = :id", id=assessment_id
    )
    return int(sequence)


def _crash_restart_and_tamper(database: Database, log: Path, workers: int) -> None:
    """Write, SIGKILL, restart, read every acknowledged write back, verify; then tamper and verify."""
    store = open_store(database.url)
    try:
        key = create_key(store, "crash-test")
    finally:
        store.dispose()

    with _serving(database.url, log, workers) as server:
        writes = _write_and_kill(server, key)

    assert writes.unexpected == []
    assert len(writes.cut_off) > 0, "the kill found no request in flight"
    # Read back by a server of one worker: what was acknowledged is in the store, whoever reads it.
    with _serving(database.url, log, workers=1) as server, httpx.Client(base_url=server.base_url) as client:
        for assessment_id, answered in writes.acknowledged.items():
            read = client.get(f"{ASSESSMENTS}/{assessment_id}")
            assert (read.status_code, read.content) == (200, answered)
    stored = {
        assessment_id: json.loads(case_json).get("id")
        for assessment_id, case_json in database.rows("SELECT id, case_json FROM assessments")
    }
    unacknowledged = {stored[each] for each in set(stored) - set(writes.acknowledged)}
    assert unacknowledged <= set(writes.cut_off)  # stored without an answer: only what was in flight
    print(
        f"\n{database.dialect}, {workers} worker(s): {len(writes.acknowledged)} acknowledged before the "
        f"kill, all read back unchanged; {len(writes.cut_off)} cut off, {len(unacknowledged)} of them stored"
    )
    verified = _audit_verify(database.url)
    assert (verified.returncode, verified.stderr) == (0, ""), verified.stderr
    assert f": {len(stored)} records;" in verified.stdout

    victim = next(iter(writes.acknowledged))
    database.tamper(
        "assessments",
        "UPDATE assessments SET assessment_json = replace(assessment_json, :old, :new) WHERE id = :id",
        old='"decision":"',
        new='"decision":"x',
        id=victim,
    )
    tampered = _audit_verify(database.url)

    sequence = _sequence_of(database, victim)
    assert (tampered.returncode, tampered.stdout) == (1, "")
    assert tampered.stderr == (
        f"vertaid: the audit trail is broken at record {sequence}: "
        f"stored assessment {victim} differs from record {sequence} in: assessment\n"
    )


def test_every_acknowledged_write_survives_sigkill_and_a_tampered_one_is_named(
    database: Database, tmp_path: Path
) -> None:
    """SIGKILL while eight writers POST (SQLite and PostgreSQL): after a restart every 201 reads back byte
    for byte, whatever else was stored is a write that was in flight (never a stranger), and `vertaid
    audit verify` exits 0; once a stored assessment is edited behind the triggers, it exits 1 naming that
    record."""
    _crash_restart_and_tamper(database, tmp_path / "serve.log", workers=1)


def test_two_worker_processes_killed_together_lose_no_acknowledged_write(tmp_path: Path) -> None:
    """The same with `vertaid serve --workers 2` on an SQLite file: two processes appending in turn
    (through the lock file beside the database) are killed at once, mid-stream, and nothing
    acknowledged is lost; the lock a dead process held does not keep the restarted server waiting."""
    database = Database("sqlite", f"sqlite:///{tmp_path / 'vertaid.db'}")
    _crash_restart_and_tamper(database, tmp_path / "serve.log", workers=2)


def test_an_sqlite_file_edited_on_disk_is_named_by_audit_verify(tmp_path: Path) -> None:
    """Bytes changed in the database file itself (no SQL, no trigger in the way: a case id rewritten
    where it lies on disk) break the record holding them: `vertaid audit verify` exits 1 naming it."""
    path = tmp_path / "vertaid.db"
    store = open_store(f"sqlite:///{path}")
    try:
        for number in (1, 2, 3):
            record_assessment(store, CASES[0] | {"id": f"edited-on-disk-{number}"}, key_name="clinic-a")
    finally:
        store.dispose()  # the last connection checkpoints the write-ahead log into the file
    content = path.read_bytes()
    assert content.count(b"edited-on-disk-2") >= 1

    path.write_bytes(content.replace(b"edited-on-disk-2", b"edited-on-disk-X"))
    verified = _audit_verify(f"sqlite:///{path}")

    assert (verified.returncode, verified.stdout) == (1, "")
    assert verified.stderr.startswith("vertaid: the audit trail is broken at record 2: ")
