"""The audit trail (CONTRACT §5): append-only, hash-chained, verified record by record."""

from __future__ import annotations

import hashlib
import json
import os
import threading
import uuid
from dataclasses import replace
from typing import Any

import pytest
from sqlalchemy.exc import DBAPIError

from tests.store.conftest import Database, admin_connection, shipped_migrations, vignette_case
from vertaid.services.audit import (
    GENESIS_HASH,
    AuditVerdict,
    canonical_json,
    record_hash,
    record_text,
    verify_audit,
)
from vertaid.services.keys import authenticate, create_key
from vertaid.services.ports import AuditedAssessment
from vertaid.services.records import StoredAssessment, record_assessment
from vertaid.store import Store, open_store

CASES = ["01-stable-pain-only.json", "02-collapse-over-30.json", "05-too-early.json", "09-no-mri-yet.json"]


def _record_four(store: Store) -> list[StoredAssessment]:
    return [
        record_assessment(store, vignette_case(name), key_name=f"key-{index}")
        for index, name in enumerate(CASES)
    ]


def test_an_empty_trail_is_whole(store: Store) -> None:
    """A new store's trail has no records and nothing to break."""
    assert verify_audit(store) == AuditVerdict(whole=True, records=0, first_broken=None, reason=None)


def test_a_trail_written_by_the_store_is_whole(store: Store, database: Database) -> None:
    """Every record the store wrote verifies; the verdict counts them and gives the last record's hash."""
    _record_four(store)

    verdict = verify_audit(store)

    [(head,)] = database.rows("SELECT record_hash FROM audit_records WHERE sequence = 4")
    assert verdict == AuditVerdict(whole=True, records=4, first_broken=None, reason=None, head_hash=head)


def test_a_record_checks_out_by_the_documented_rule_alone(store: Store, database: Database) -> None:
    """docs/store.md's rule, done with hashlib and json only, gives every stored hash: sha256 of the
    previous hash followed by the canonical JSON of the record's fields, which name the stored case and
    assessment by the sha256 of their texts."""
    _record_four(store)
    rows = database.rows(
        "SELECT r.sequence, r.assessment_id, r.key_name, r.knowledge_digest, r.case_sha256, "
        "r.assessment_sha256, r.previous_hash, r.record_hash, a.created_at, a.case_json, a.assessment_json "
        "FROM audit_records r JOIN assessments a ON a.id = r.assessment_id ORDER BY r.sequence"
    )
    previous = "0" * 64
    for (
        sequence,
        assessment_id,
        key_name,
        digest,
        case_sha256,
        assessment_sha256,
        previous_hash,
        stored,
        created_at,
        case_json,
        assessment_json,
    ) in rows:
        moment = created_at if isinstance(created_at, str) else created_at.strftime("%Y-%m-%d %H:%M:%S.%f")
        record = {
            "record": "vertaid.audit/2",
            "sequence": sequence,
            "assessment_id": assessment_id,
            "recorded_at": moment.replace(" ", "T")[:26] + "+00:00",
            "key_name": key_name,
            "knowledge_digest": digest,
            "case_sha256": hashlib.sha256(case_json.encode("utf-8")).hexdigest(),
            "assessment_sha256": hashlib.sha256(assessment_json.encode("utf-8")).hexdigest(),
        }
        text = json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=False)

        assert (case_sha256, assessment_sha256) == (record["case_sha256"], record["assessment_sha256"])
        assert previous_hash == previous
        assert stored == hashlib.sha256((previous + text).encode("utf-8")).hexdigest()
        previous = stored


def test_records_keep_no_copy_of_the_case_or_the_assessment(store: Store, database: Database) -> None:
    """A new audit record holds the hashes of the case and assessment texts, not the texts: they are
    stored once, with the assessment."""
    _record_four(store)

    assert database.rows(
        "SELECT count(*) FROM audit_records WHERE case_json IS NULL AND assessment_json IS NULL "
        "AND length(case_sha256) = 64 AND length(assessment_sha256) = 64"
    ) == [(4,)]


def _broken(store: Store) -> tuple[bool, int | None, str]:
    verdict = verify_audit(store)
    return verdict.whole, verdict.first_broken, verdict.reason or ""


def test_an_edited_audit_record_is_named(store: Store, database: Database) -> None:
    """Changing one field of record 2 behind the triggers' back breaks record 2 and no earlier one."""
    _record_four(store)
    database.tamper("audit_records", "UPDATE audit_records SET key_name = 'someone-else' WHERE sequence = 2")

    whole, first_broken, reason = _broken(store)

    assert (whole, first_broken) == (False, 2)
    assert "record 2 was altered" in reason
    assert verify_audit(store).records == 4


def test_an_edited_stored_assessment_is_named(store: Store, database: Database) -> None:
    """A stored assessment changed after the fact no longer matches its record: that record is named."""
    stored = _record_four(store)
    changed = dict(stored[2].assessment, decision="vertebroplasty")
    database.tamper(
        "assessments",
        "UPDATE assessments SET assessment_json = :text WHERE id = :id",
        text=canonical_json(changed),
        id=stored[2].id,
    )

    whole, first_broken, reason = _broken(store)

    assert (whole, first_broken) == (False, 3)
    assert reason == f"stored assessment {stored[2].id} differs from record 3 in: assessment"


def test_a_deleted_record_is_named(store: Store, database: Database) -> None:
    """Removing record 2 (and its assessment) leaves a gap that verification names as record 2."""
    stored = _record_four(store)
    database.tamper("audit_records", "DELETE FROM audit_records WHERE sequence = 2")
    database.tamper("assessments", "DELETE FROM assessments WHERE id = :id", id=stored[1].id)

    whole, first_broken, reason = _broken(store)

    assert (whole, first_broken) == (False, 2)
    assert "record 2 is missing" in reason


def test_a_record_rewritten_with_a_fresh_hash_breaks_the_next_link(store: Store, database: Database) -> None:
    """An intruder who rewrites record 2 and gives it the right hash for its new content still breaks
    record 3's link to it: record 3 is named."""
    _record_four(store)
    audited = list(store.audit_trail())[1]
    assert isinstance(audited, AuditedAssessment)
    original = audited.record
    forged = replace(original, key_name="intruder")
    forged_hash = record_hash(forged.previous_hash, record_text(forged))
    database.tamper(
        "audit_records",
        "UPDATE audit_records SET key_name = 'intruder', record_hash = :hash WHERE sequence = 2",
        hash=forged_hash,
    )
    database.tamper(
        "assessments", "UPDATE assessments SET key_name = 'intruder' WHERE id = :id", id=forged.assessment_id
    )

    whole, first_broken, reason = _broken(store)

    assert (whole, first_broken) == (False, 3)
    assert reason == "record 3 is not chained to record 2 (previous hash differs)"


def test_an_assessment_without_a_record_breaks_the_trail(store: Store, database: Database) -> None:
    """A stored assessment slipped in without an audit record makes the trail not whole, naming it."""
    _record_four(store)
    database.rows(
        "INSERT INTO assessments (id, created_at, key_name, knowledge_digest, case_json, assessment_json) "
        "VALUES (:id, CURRENT_TIMESTAMP, NULL, :digest, '{}', '{}')",
        id="e" * 32,
        digest="0" * 64,
    )

    verdict = verify_audit(store)

    assert (verdict.whole, verdict.records, verdict.first_broken) == (False, 4, None)
    assert verdict.reason == f"stored assessment {'e' * 32} has no audit record"


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE audit_records SET key_name = 'intruder'",
        "DELETE FROM audit_records",
        "UPDATE assessments SET key_name = 'intruder'",
        "DELETE FROM assessments",
    ],
)
def test_the_database_refuses_to_change_or_delete_records(
    store: Store, database: Database, statement: str
) -> None:
    """Triggers installed by the migration refuse UPDATE and DELETE; the trail stays whole."""
    _record_four(store)

    with pytest.raises(DBAPIError, match="append-only"):
        database.rows(statement)

    assert verify_audit(store).whole
    assert database.rows("SELECT count(*) FROM audit_records") == [(4,)]


def test_postgresql_refuses_to_truncate_the_trail(postgresql_database: Database) -> None:
    """On PostgreSQL a TRUNCATE, which skips row triggers, is refused by a statement trigger."""
    store = open_store(postgresql_database.url)
    try:
        _record_four(store)
        for table in ("audit_records", "assessments"):
            with pytest.raises(DBAPIError, match="append-only"):
                postgresql_database.rows(f"TRUNCATE {table} CASCADE")
        assert verify_audit(store).records == 4
    finally:
        store.dispose()


def test_concurrent_writers_keep_one_chain(database: Database) -> None:
    """Threads writing at once through two stores (as two processes would) append to a single chain:
    every sequence number once, every record chained to the one before, nothing lost."""
    stores = [open_store(database.url), open_store(database.url)]
    case = vignette_case("02-collapse-over-30.json")
    failures: list[BaseException] = []
    writers, each = 6, 8

    def write(store: Store, name: str) -> None:
        try:
            for _ in range(each):
                record_assessment(store, case, key_name=name)
        except BaseException as error:
            failures.append(error)

    threads = [threading.Thread(target=write, args=(stores[i % 2], f"writer-{i}")) for i in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for store in stores:
        store.dispose()

    assert failures == []
    reopened = open_store(database.url)
    verdict = verify_audit(reopened)
    reopened.dispose()
    assert (verdict.whole, verdict.records) == (True, writers * each)
    rows: list[Any] = database.rows("SELECT sequence, previous_hash FROM audit_records ORDER BY sequence")
    assert [sequence for sequence, _ in rows] == list(range(1, writers * each + 1))
    assert rows[0][1] == GENESIS_HASH


def test_a_trail_longer_than_one_read_is_verified_whole_and_tamper_found_in_a_later_piece(
    store: Store, database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Verification streams the trail in pieces (here of 3 records): 8 records are all read and checked,
    and an edit in the third piece is still named."""
    monkeypatch.setattr("vertaid.store._store.AUDIT_ROWS_PER_READ", 3)
    for _ in range(2):
        _record_four(store)

    assert verify_audit(store) == AuditVerdict(True, 8, None, None, verify_audit(store).head_hash)
    database.tamper("audit_records", "UPDATE audit_records SET key_name = NULL WHERE sequence = 7")
    assert _broken(store)[:2] == (False, 7)


def test_the_store_needs_no_more_than_select_and_insert_on_postgresql(
    postgresql_database: Database, postgresql_user: str
) -> None:
    """Under a role that may only read and insert (the privileges that back the triggers), the store
    opens, stores, creates keys and verifies, and the role cannot change a record."""
    open_store(postgresql_database.url).dispose()  # migrated by the owner
    role = f"vertaid_test_writer_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    owner = f"//{postgresql_user}@"
    restricted = Database("postgresql", postgresql_database.url.replace(owner, f"//{role}@"))
    store: Store | None = None
    try:
        with admin_connection(postgresql_user) as admin:
            admin.execute(f'SET search_path TO "{postgresql_database.schema}"')
            admin.execute(f'CREATE ROLE "{role}" LOGIN')
            admin.execute(f'GRANT USAGE ON SCHEMA "{postgresql_database.schema}" TO "{role}"')
            admin.execute(f'GRANT SELECT, INSERT ON assessments, audit_records, api_keys TO "{role}"')
            admin.execute(f'GRANT SELECT ON alembic_version, purged_assessments TO "{role}"')
        store = open_store(restricted.url)
        _record_four(store)
        key = create_key(store, "clinic-a")

        assert verify_audit(store).whole
        assert authenticate(store, key) == "clinic-a"
        with pytest.raises(DBAPIError, match="permission denied for table audit_records"):
            restricted.rows("UPDATE audit_records SET key_name = 'intruder'")
        with pytest.raises(DBAPIError, match="must be owner of table audit_records"):
            restricted.rows("ALTER TABLE audit_records DISABLE TRIGGER USER")
    finally:
        if store is not None:
            store.dispose()
        with admin_connection(postgresql_user) as admin:
            admin.execute(f'DROP OWNED BY "{role}"')
            admin.execute(f'DROP ROLE IF EXISTS "{role}"')


def _migrated_to(database: Database, revision: str) -> None:
    """Bring a new database to ``revision`` only, as a store of an earlier vertaid left it."""
    from alembic import command
    from alembic.config import Config
    from sqlalchemy import create_engine

    config = Config()
    config.set_main_option("script_location", shipped_migrations())
    engine = create_engine(database.url.replace("postgresql://", "postgresql+psycopg://", 1))
    try:
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, revision)
    finally:
        engine.dispose()


def _format_1_trail(database: Database, count: int) -> list[str]:
    """``count`` assessments with audit records of format 1 (the texts in the record), written by the
    documented rule with hashlib and json only, into a database at revision 0002; their ids."""
    previous = GENESIS_HASH
    ids = []
    for sequence in range(1, count + 1):
        case = vignette_case(CASES[sequence - 1])
        assessment_id = uuid.uuid4().hex
        moment = f"2025-03-0{sequence} 09:30:00.000000"
        case_json = canonical_json(case)
        assessment_json = canonical_json({"case_id": case.get("id"), "decision": "conservative_care"})
        record = {
            "record": "vertaid.audit/1",
            "sequence": sequence,
            "assessment_id": assessment_id,
            "recorded_at": moment.replace(" ", "T") + "+00:00",
            "key_name": "clinic-a",
            "knowledge_digest": "d" * 64,
            "case": case,
            "assessment": json.loads(assessment_json),
        }
        text = json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        record_hash_ = hashlib.sha256((previous + text).encode("utf-8")).hexdigest()
        shared = {
            "id": assessment_id,
            "moment": moment,
            "digest": "d" * 64,
            "case": case_json,
            "assessment": assessment_json,
        }
        database.rows(
            "INSERT INTO assessments (id, created_at, key_name, knowledge_digest, case_json, "
            "assessment_json) VALUES (:id, :moment, 'clinic-a', :digest, :case, :assessment)",
            **shared,
        )
        database.rows(
            "INSERT INTO audit_records (sequence, assessment_id, recorded_at, key_name, knowledge_digest, "
            "case_json, assessment_json, previous_hash, record_hash) VALUES (:sequence, :id, :moment, "
            "'clinic-a', :digest, :case, :assessment, :previous, :hash)",
            sequence=sequence,
            previous=previous,
            hash=record_hash_,
            **shared,
        )
        previous = record_hash_
        ids.append(assessment_id)
    return ids


def test_a_trail_begun_with_records_holding_the_texts_goes_on_whole(database: Database) -> None:
    """Records written before records named their texts by hash (format 1) still verify after the
    migration, new records chain on from the last of them, and a changed old record is still named."""
    _migrated_to(database, "0002")
    _format_1_trail(database, 2)
    store = open_store(database.url)
    try:
        record_assessment(store, vignette_case(CASES[2]), key_name="clinic-b")
        record_assessment(store, vignette_case(CASES[3]), key_name="clinic-b")

        assert verify_audit(store).whole
        assert verify_audit(store).records == 4
        assert database.rows(
            "SELECT sequence FROM audit_records WHERE case_json IS NULL ORDER BY sequence"
        ) == [(3,), (4,)]

        database.tamper(
            "audit_records",
            "UPDATE audit_records SET case_json = replace(case_json, '\"age\"', '\"agf\"') "
            "WHERE sequence = 2",
        )
        verdict = verify_audit(store)
        assert (verdict.whole, verdict.first_broken) == (False, 2)
        assert verdict.reason == "record 2 was altered: its hash does not match its content"
    finally:
        store.dispose()


def test_the_migrated_trail_still_refuses_changes(database: Database) -> None:
    """The audit table rebuilt by the migration keeps refusing UPDATE and DELETE."""
    _migrated_to(database, "0002")
    _format_1_trail(database, 1)
    open_store(database.url).dispose()

    for statement in ("UPDATE audit_records SET key_name = 'x'", "DELETE FROM audit_records"):
        with pytest.raises(DBAPIError, match="append-only"):
            database.rows(statement)
    assert database.rows("SELECT count(*) FROM audit_records") == [(1,)]
