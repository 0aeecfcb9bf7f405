"""Stored assessments (issue 4): round trip, restart, no partial writes, commit before return, batches."""

from __future__ import annotations

import copy
import fcntl
import re
import sqlite3
import threading
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from hypothesis import given
from sqlalchemy import create_engine

from tests.store.conftest import VIGNETTES, Database, shipped_migrations, vignette_case
from tests.test_properties import ANY_CASE, SETTINGS
from vertaid import InvalidCase, assess
from vertaid.knowledge import default_pack
from vertaid.services.audit import canonical_json, sealer_for, verify_audit
from vertaid.services.ports import AssessmentAppend, AssessmentEntry, AuditEntry, ChainHead
from vertaid.services.records import (
    commit_assessments,
    get_assessment,
    prepare_assessment,
    recent_assessments,
    record_assessment,
)
from vertaid.store import Store, StoreUnavailable, open_store
from vertaid.store._schema import Base
from vertaid.store._store import APPEND_TURNS_SUFFIX

KYPHOPLASTY_CASE = "02-collapse-over-30.json"


def _counts(database: Database) -> tuple[int, int]:
    """How many assessments and audit records the database holds, counted behind the store's back."""
    [(assessments,)] = database.rows("SELECT count(*) FROM assessments")
    [(records,)] = database.rows("SELECT count(*) FROM audit_records")
    return assessments, records


def _entry(index: int) -> AssessmentEntry:
    """An assessment entry made by hand, with an id from its index (not a real assessment)."""
    return AssessmentEntry(
        id=f"{index:032x}",
        created_at=datetime.now(UTC),
        key_name=None,
        knowledge_digest="d" * 64,
        case_json="{}",
        assessment_json="{}",
    )


def test_a_stored_assessment_reads_back_as_it_was_stored(store: Store) -> None:
    """What record_assessment returns is the case as given, its assessment, the key, a UTC time and id."""
    case = vignette_case(KYPHOPLASTY_CASE)
    before = datetime.now(UTC)

    stored = record_assessment(store, case, key_name="clinic-a")

    assert re.fullmatch(r"[0-9a-f]{32}", stored.id)
    assert stored.created_at.tzinfo is not None
    assert stored.created_at.utcoffset() == timedelta(0)
    assert before <= stored.created_at <= datetime.now(UTC)
    assert stored.key_name == "clinic-a"
    assert stored.case == case
    assert stored.assessment == assess(case)
    assert stored.assessment["decision"] == "kyphoplasty"
    assert stored.knowledge_digest == default_pack().digest
    assert get_assessment(store, stored.id) == stored


def test_a_restarted_store_keeps_every_assessment(database: Database) -> None:
    """A new open_store on the same URL finds every assessment stored before, unchanged, newest first."""
    first = open_store(database.url)
    names = [KYPHOPLASTY_CASE, "01-stable-pain-only.json", "05-too-early.json"]
    stored = [record_assessment(first, vignette_case(name), key_name=None) for name in names]
    first.dispose()

    again = open_store(database.url)
    try:
        assert [get_assessment(again, each.id) for each in stored] == stored
        assert recent_assessments(again) == stored[::-1]
    finally:
        again.dispose()


def test_an_invalid_case_is_refused_and_nothing_is_written(store: Store, database: Database) -> None:
    """An invalid case raises InvalidCase naming the field, and neither table gains a row."""
    case = vignette_case(KYPHOPLASTY_CASE)
    case["fractures"][0]["level"] = "L9"

    with pytest.raises(InvalidCase) as refused:
        record_assessment(store, case, key_name="clinic-a")

    assert [path for path, _ in refused.value.problems] == ["fractures[0].level"]
    assert _counts(database) == (0, 0)


def test_a_write_is_committed_before_record_assessment_returns(store: Store, database: Database) -> None:
    """Another connection, opened after the call returns, already sees the assessment and its record."""
    stored = record_assessment(store, vignette_case(KYPHOPLASTY_CASE), key_name="clinic-a")

    assert database.rows("SELECT id, key_name FROM assessments") == [(stored.id, "clinic-a")]
    assert database.rows("SELECT sequence, assessment_id FROM audit_records") == [(1, stored.id)]


def test_an_assessment_whose_audit_record_fails_is_not_stored(store: Store, database: Database) -> None:
    """The assessment and its audit record are one transaction: when the record cannot be written
    (here it reuses sequence 1), the assessment written just before it is rolled back too."""
    record_assessment(store, vignette_case(KYPHOPLASTY_CASE), key_name=None)
    entry = AssessmentEntry(
        id="0" * 32,
        created_at=datetime.now(UTC),
        key_name=None,
        knowledge_digest=default_pack().digest,
        case_json="{}",
        assessment_json="{}",
    )
    seal_again_as_first = sealer_for(entry)

    with pytest.raises(Exception, match=r"(?i)unique|primary key|duplicate"):
        store.append_assessments([AssessmentAppend(entry, lambda _head: seal_again_as_first(None))])

    assert _counts(database) == (1, 1)
    assert get_assessment(store, "0" * 32) is None


@pytest.mark.parametrize("assessment_id", ["", "nope", "../etc/passwd", "A" * 32, "0" * 31, "' OR 1=1 --"])
def test_a_malformed_id_finds_nothing(store: Store, assessment_id: str) -> None:
    """An id that cannot be a stored assessment's is answered with None, not an error."""
    record_assessment(store, vignette_case(KYPHOPLASTY_CASE), key_name=None)

    assert get_assessment(store, assessment_id) is None


def test_an_unknown_id_finds_nothing(store: Store) -> None:
    """A well-formed id that no assessment has is answered with None."""
    assert get_assessment(store, "f" * 32) is None


def test_recent_assessments_are_newest_first_and_limited(store: Store) -> None:
    """recent_assessments gives the latest first, at most ``limit``, and refuses a limit out of range."""
    stored = [record_assessment(store, vignette_case(KYPHOPLASTY_CASE), key_name=None) for _ in range(4)]

    assert [each.id for each in recent_assessments(store, limit=3)] == [each.id for each in stored[:0:-1]]
    assert recent_assessments(store, limit=1000)[-1] == stored[0]
    for limit in (0, -1, 1001):
        with pytest.raises(ValueError, match="limit must be a whole number from 1 to 1000"):
            recent_assessments(store, limit=limit)


def test_changing_a_returned_assessment_changes_nothing_stored(store: Store) -> None:
    """Each call returns fresh dictionaries: a caller that edits one does not edit the store's record."""
    stored = record_assessment(store, vignette_case(KYPHOPLASTY_CASE), key_name=None)
    pristine = copy.deepcopy(stored)

    stored.case["patient"]["age"] = 20
    stored.assessment["decision"] = "vertebroplasty"

    assert get_assessment(store, stored.id) == pristine


def test_the_migrated_database_matches_the_models(store: Store, database: Database) -> None:
    """Alembic finds no difference between the database the migrations built and the ORM models."""
    engine = create_engine(database.url.replace("postgresql://", "postgresql+psycopg://", 1))
    try:
        with engine.connect() as connection:
            assert compare_metadata(MigrationContext.configure(connection), Base.metadata) == []
    finally:
        engine.dispose()


def test_stores_opened_at_once_on_a_new_database_migrate_it_once(database: Database) -> None:
    """Several processes starting together take turns to migrate; every one opens a usable store."""
    opened: list[Store] = []
    failures: list[BaseException] = []

    def start() -> None:
        try:
            opened.append(open_store(database.url))
        except BaseException as error:
            failures.append(error)

    threads = [threading.Thread(target=start) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert failures == []
    stored = record_assessment(opened[0], vignette_case(KYPHOPLASTY_CASE), key_name=None)
    assert all(get_assessment(each, stored.id) == stored for each in opened)
    assert database.rows("SELECT version_num FROM alembic_version") == [(_newest_revision(),)]
    for each in opened:
        each.dispose()


def test_check_passes_while_the_database_answers_and_names_the_cause_when_it_does_not(
    store: Store, database: Database, tmp_path: Path
) -> None:
    """check() is silent on a working store and raises StoreUnavailable, naming why, on a broken one."""
    store.check()
    store.dispose()
    if database.dialect == "sqlite":
        for suffix in ("", "-wal", "-shm"):
            (tmp_path / f"vertaid.db{suffix}").unlink(missing_ok=True)
        (tmp_path / "vertaid.db").write_bytes(b"this is not a database" * 100)
        cause = "not a database"
    else:
        database.rows("DROP TABLE audit_records CASCADE")
        cause = "audit_records"

    with pytest.raises(StoreUnavailable, match=cause):
        store.check()


def test_the_default_store_is_a_sqlite_file_in_var_in_wal_mode(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without a URL or VERTAID_DATABASE_URL the store is ./var/vertaid.db, created, WAL, foreign keys on,
    synchronous=FULL (an acknowledged write survives a power cut), 16 KiB pages."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("VERTAID_DATABASE_URL", raising=False)

    store = open_store()
    try:
        assert store.dialect == "sqlite"
        with store._engine.connect() as connection:
            assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
            assert connection.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL
            assert connection.exec_driver_sql("PRAGMA page_size").scalar() == 16384
    finally:
        store.dispose()
    assert (tmp_path / "var" / "vertaid.db").is_file()


def test_an_sqlite_file_made_before_keeps_its_page_size_and_its_assessments(tmp_path: Path) -> None:
    """A store made with SQLite's 4 KiB pages (as vertaid made them before) opens, keeps its pages and
    its assessments, and takes new ones on the same chain."""
    path = tmp_path / "vertaid.db"
    with sqlite3.connect(path) as older:
        older.execute("PRAGMA page_size = 4096")
        older.execute("VACUUM")  # writes the header: the file now has 4 KiB pages
    store = open_store(f"sqlite:///{path}")
    try:
        first = record_assessment(store, vignette_case(KYPHOPLASTY_CASE), key_name=None)
        store.dispose()
        second = record_assessment(store, vignette_case(KYPHOPLASTY_CASE), key_name=None)

        with store._engine.connect() as connection:
            assert connection.exec_driver_sql("PRAGMA page_size").scalar() == 4096
        assert [each.id for each in recent_assessments(store)] == [second.id, first.id]
        assert verify_audit(store).whole
    finally:
        store.dispose()


def test_vertaid_database_url_names_the_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """VERTAID_DATABASE_URL is the store open_store opens when given no URL."""
    monkeypatch.setenv("VERTAID_DATABASE_URL", f"sqlite:///{tmp_path / 'elsewhere' / 'store.db'}")

    open_store().dispose()

    assert (tmp_path / "elsewhere" / "store.db").is_file()


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("not a url", "not an SQLAlchemy URL"),
        ("mysql://clinic:s3cret@127.0.0.1/vertaid", "unsupported database 'mysql'"),
        ("postgresql://clinic:s3cret@127.0.0.1:1/vertaid", "(?i)refused|failed"),
        ("sqlite:////proc/no-such-process/vertaid.db", "cannot create the folder"),
    ],
)
def test_an_unusable_url_is_one_line_naming_the_cause_without_the_password(url: str, reason: str) -> None:
    """open_store raises StoreUnavailable with a one-line reason, and never repeats a password."""
    with pytest.raises(StoreUnavailable, match=reason) as refused:
        open_store(url)

    message = str(refused.value)
    assert "\n" not in message
    assert "s3cret" not in message


def test_seal_is_given_the_head_the_previous_append_committed(store: Store) -> None:
    """The store hands each seal the last committed record (None for the first), as chaining needs."""
    heads: list[ChainHead | None] = []
    appended: list[AuditEntry] = []
    for index in range(3):
        entry = _entry(index)

        def watching(head: ChainHead | None, entry: AssessmentEntry = entry) -> AuditEntry:
            heads.append(head)
            return sealer_for(entry)(head)

        appended.extend(store.append_assessments([AssessmentAppend(entry, watching)]))

    assert heads == [None, *(ChainHead(record.sequence, record.record_hash) for record in appended[:2])]


def test_a_case_with_text_no_database_can_hold_is_refused_naming_the_field(
    store: Store, database: Database
) -> None:
    """JSON's "\\ud800" escape decodes to a lone surrogate, which is not text: InvalidCase names where it
    is, and nothing is written (rather than a database error halfway)."""
    case = vignette_case(KYPHOPLASTY_CASE)
    case["id"] = "case-\ud800"

    with pytest.raises(InvalidCase) as refused:
        record_assessment(store, case, key_name=None)

    assert [path for path, _ in refused.value.problems] == ["id"]
    assert "surrogate" in refused.value.problems[0][1]
    assert _counts(database) == (0, 0)


def test_a_batch_is_chained_in_the_order_given_and_committed_at_once(
    store: Store, database: Database
) -> None:
    """append_assessments hands the first seal the chain's head and each later one the record sealed
    before it; all are committed, in that order, when it returns."""
    first = _entry(0)
    store.append_assessments([AssessmentAppend(first, sealer_for(first))])
    entries = [_entry(index) for index in range(1, 5)]
    heads: list[ChainHead | None] = []

    def watching(entry: AssessmentEntry) -> Callable[[ChainHead | None], AuditEntry]:
        def seal(head: ChainHead | None) -> AuditEntry:
            heads.append(head)
            return sealer_for(entry)(head)

        return seal

    records = store.append_assessments([AssessmentAppend(entry, watching(entry)) for entry in entries])

    assert [record.sequence for record in records] == [2, 3, 4, 5]
    assert heads[1:] == [ChainHead(record.sequence, record.record_hash) for record in records[:-1]]
    assert heads[0] is not None and heads[0].sequence == 1
    rows = database.rows("SELECT sequence, assessment_id FROM audit_records ORDER BY sequence")
    assert rows == [(sequence, f"{sequence - 1:032x}") for sequence in range(1, 6)]
    assert verify_audit(store).whole


def test_a_batch_with_one_bad_append_stores_none_of_it(store: Store, database: Database) -> None:
    """The appends of a batch are one transaction: when its last assessment cannot be stored (its id is
    taken), the ones before it in the batch are not stored either."""
    record_assessment(store, vignette_case(KYPHOPLASTY_CASE), key_name=None)
    [(taken,)] = database.rows("SELECT id FROM assessments")
    entries = [_entry(1), _entry(2), replace(_entry(3), id=taken)]

    with pytest.raises(Exception, match=r"(?i)unique|primary key|duplicate"):
        store.append_assessments([AssessmentAppend(entry, sealer_for(entry)) for entry in entries])

    assert _counts(database) == (1, 1)
    assert verify_audit(store).whole


def test_prepared_assessments_are_stored_only_by_commit_assessments(store: Store, database: Database) -> None:
    """prepare_assessment assesses and makes the canonical texts without storing anything (it is given
    no store); commit_assessments stores several in one call, and returns them once committed."""
    names = [KYPHOPLASTY_CASE, "01-stable-pain-only.json", "05-too-early.json"]
    prepared = [prepare_assessment(vignette_case(name), key_name="clinic-a") for name in names]

    assert _counts(database) == (0, 0)
    assert [each.entry.case_json for each in prepared] == [canonical_json(vignette_case(n)) for n in names]
    assert [each.assessment for each in prepared] == [assess(vignette_case(name)) for name in names]

    stored = commit_assessments(store, prepared)

    assert [each.id for each in stored] == [each.entry.id for each in prepared]
    assert database.rows("SELECT assessment_id FROM audit_records ORDER BY sequence") == [
        (each.id,) for each in stored
    ]
    assert [get_assessment(store, each.id) for each in stored] == stored
    assert commit_assessments(store, []) == []


def test_prepare_assessment_refuses_an_invalid_case(store: Store, database: Database) -> None:
    """An invalid case raises InvalidCase from prepare_assessment, before anything could be committed."""
    case = vignette_case(KYPHOPLASTY_CASE)
    case["patient"]["age"] = 150

    with pytest.raises(InvalidCase) as refused:
        prepare_assessment(case, key_name=None)

    assert [path for path, _ in refused.value.problems] == ["patient.age"]
    assert _counts(database) == (0, 0)


def test_appends_to_an_sqlite_file_wait_for_their_turn_on_its_lock_file(tmp_path: Path) -> None:
    """Processes appending to one SQLite file take turns on the lock of ``<file>-appending`` (flock): an
    append waits while another holds it, and goes through as soon as it is let go."""
    store = open_store(f"sqlite:///{tmp_path / 'vertaid.db'}")
    turns = tmp_path / f"vertaid.db{APPEND_TURNS_SUFFIX}"
    appended = threading.Event()

    def append() -> None:
        record_assessment(store, vignette_case(KYPHOPLASTY_CASE), key_name=None)
        appended.set()

    try:
        with turns.open("a+b") as held:
            fcntl.flock(held, fcntl.LOCK_EX)  # another process's turn
            writer = threading.Thread(target=append)
            writer.start()
            assert not appended.wait(0.5)
        writer.join(timeout=30)
        assert appended.is_set()
        assert verify_audit(store).records == 1
    finally:
        store.dispose()


def test_postgresql_compresses_stored_assessments_with_lz4_where_it_can(
    postgresql_database: Database,
) -> None:
    """On a server that has lz4 (Debian's PostgreSQL 14 and later), the long texts of an assessment are
    compressed with it, which costs the server a fifth of the CPU of its default compressor."""
    offered = postgresql_database.rows(
        "SELECT 1 FROM pg_settings WHERE name = 'default_toast_compression' AND 'lz4' = ANY(enumvals)"
    )
    if not offered:
        pytest.skip("this PostgreSQL server has no lz4 compression")
    store = open_store(postgresql_database.url)
    try:
        stored = record_assessment(store, vignette_case(KYPHOPLASTY_CASE), key_name=None)
    finally:
        store.dispose()

    methods = postgresql_database.rows(
        "SELECT pg_column_compression(assessment_json) FROM assessments WHERE id = :id", id=stored.id
    )
    assert methods == [("lz4",)]


@SETTINGS
@given(ANY_CASE)
def test_the_stored_text_of_a_prepared_assessment_is_its_canonical_json(case: dict[str, Any]) -> None:
    """prepare_assessment writes the assessment's shared sections from text made once per pack; the
    stored text is still exactly canonical_json of the assessment it returns (which the audit hashes)."""
    prepared = prepare_assessment(case, key_name=None)

    assert prepared.entry.assessment_json == canonical_json(prepared.assessment)
    assert prepared.entry.case_json == canonical_json(case)


@pytest.mark.parametrize("name", sorted(path.name for path in VIGNETTES.glob("*.json")))
def test_every_vignettes_stored_text_is_its_canonical_json(name: str) -> None:
    """The same holds for each public vignette, whose decisions cover every branch of the policy."""
    prepared = prepare_assessment(vignette_case(name), key_name=None)

    assert prepared.entry.assessment_json == canonical_json(assess(vignette_case(name)))


def _newest_revision() -> str:
    """The revision the shipped migrations end at."""
    from alembic.script import ScriptDirectory

    head = ScriptDirectory(shipped_migrations()).get_current_head()
    assert head is not None
    return head
