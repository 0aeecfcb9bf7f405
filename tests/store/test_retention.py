"""Data retention: ``vertaid export`` and ``vertaid purge`` on SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
import json
import stat
import tracemalloc
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy.exc import DBAPIError
from typer.testing import CliRunner

from tests.store.conftest import VIGNETTES, Database, vignette_case
from vertaid.cli._app import app
from vertaid.cli._retention import parse_bound
from vertaid.services.audit import verify_audit
from vertaid.services.records import (
    PreparedAssessment,
    commit_assessments,
    get_assessment,
    prepare_assessment,
)
from vertaid.services.retention import export_lines
from vertaid.store import Store

CASES = sorted(path.name for path in VIGNETTES.glob("*.json"))

DAYS = ("2024-11-30T23:59:59.999999+00:00", "2024-12-01T00:00:00+00:00", "2025-01-15T10:00:00+00:00")
"""When the hand-dated assessments were made: the last moment of November, the first of December, and
a day in January."""


def _made_at(moment: str, case_name: str, key_name: str | None = "clinic-a") -> PreparedAssessment:
    """A real assessment of a vignette, dated as if made at ``moment``."""
    prepared = prepare_assessment(vignette_case(case_name), key_name=key_name)
    return replace(prepared, entry=replace(prepared.entry, created_at=datetime.fromisoformat(moment)))


def _dated(store: Store) -> list[str]:
    """Three assessments made on :data:`DAYS`, committed newest first (so commit order is not time
    order); their ids, oldest first."""
    prepared = [
        _made_at(moment, CASES[index], None if index == 1 else "clinic-a")
        for index, moment in enumerate(DAYS)
    ]
    commit_assessments(store, prepared[::-1])
    return [each.entry.id for each in prepared]


def _vertaid(database: Database, *args: str, input: str | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args), env={"VERTAID_DATABASE_URL": database.url}, input=input)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.stdout, result.stderr


def test_an_export_round_trips_every_stored_assessment(
    store: Store, database: Database, tmp_path: Path
) -> None:
    """Each exported line is one stored assessment, oldest first, whose case, assessment, id, time,
    key name and digest read back exactly as the store gives them; the file is its owner's only."""
    ids = _dated(store)
    target = tmp_path / "export.jsonl"

    code, out, err = _vertaid(database, "export", "-o", str(target))

    assert (code, out, err) == (0, "", f"vertaid: 3 stored assessments exported to {target}\n")
    lines = [json.loads(line) for line in target.read_text(encoding="utf-8").splitlines()]
    assert [line["id"] for line in lines] == ids
    for line in lines:
        stored = get_assessment(store, line["id"])
        assert stored is not None
        assert line == {
            "assessment": stored.assessment,
            "case": stored.case,
            "created_at": stored.created_at.isoformat(timespec="microseconds"),
            "export": "vertaid.export/1",
            "id": stored.id,
            "key_name": stored.key_name,
            "knowledge_digest": stored.knowledge_digest,
        }
    assert stat.S_IMODE(target.stat().st_mode) & 0o077 == 0


def test_an_export_takes_the_assessments_made_in_its_period(
    store: Store, database: Database, tmp_path: Path
) -> None:
    """--after is inclusive and --before exclusive, so two exports split at a moment take every
    assessment once; a day means its first moment in UTC."""
    ids = _dated(store)

    def exported(*bounds: str) -> list[str]:
        target = tmp_path / "part.jsonl"
        assert _vertaid(database, "export", "-o", str(target), *bounds)[0] == 0
        return [json.loads(line)["id"] for line in target.read_text(encoding="utf-8").splitlines()]

    assert exported("--before", "2024-12-01") == ids[:1]
    assert exported("--after", "2024-12-01") == ids[1:]
    assert exported("--after", "2024-12-01T00:00:00Z", "--before", "2025-01-15T11:00:00+01:00") == ids[1:2]
    assert exported("--after", "2025-02-01") == []


@pytest.mark.parametrize(
    ("bounds", "reason"),
    [
        (["--before", "yesterday"], "--before: 'yesterday' is not a date"),
        (["--after", "2025-01-01T08:00:00"], "--after: '2025-01-01T08:00:00' has no offset"),
        (["--after", "2025-02-01", "--before", "2025-01-01"], "--after must come before --before"),
    ],
)
def test_an_export_with_unusable_dates_writes_nothing(
    store: Store, database: Database, tmp_path: Path, bounds: list[str], reason: str
) -> None:
    """A date that is not one, a time without its offset, or an empty period: exit 2, one line, no file."""
    target = tmp_path / "export.jsonl"

    code, out, err = _vertaid(database, "export", "-o", str(target), *bounds)

    assert (code, out) == (2, "")
    assert err.startswith(f"vertaid export: {reason}") and err.count("\n") == 1
    assert not target.exists()


def test_parse_bound_reads_a_day_as_its_first_utc_moment() -> None:
    """A day is midnight UTC; a time with an offset is converted to UTC."""
    assert parse_bound("2025-03-01", "--before") == datetime(2025, 3, 1, tzinfo=UTC)
    assert parse_bound("2025-03-01T01:30:00+02:00", "--before") == datetime(2025, 2, 28, 23, 30, tzinfo=UTC)


def _export_peak(store: Store) -> tuple[int, int]:
    """The bytes an export of the whole store makes, and the peak of Python's allocations meanwhile."""
    tracemalloc.start()
    try:
        total = sum(len(line) for line in export_lines(store))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return total, peak


def test_an_export_streams_in_flat_memory(store: Store) -> None:
    """Twice as many assessments to export (240, then 480: about 8 and 16 MB of lines) take no more
    memory: the lines are made from rows read a batch at a time, never from the whole table."""
    for _ in range(2):
        commit_assessments(
            store, [prepare_assessment(vignette_case(name), key_name=None) for name in CASES * 6]
        )
    smaller, smaller_peak = _export_peak(store)
    for _ in range(2):
        commit_assessments(
            store, [prepare_assessment(vignette_case(name), key_name=None) for name in CASES * 6]
        )

    larger, larger_peak = _export_peak(store)

    assert larger > 1.9 * smaller > 12_000_000
    assert larger_peak < 1.2 * smaller_peak
    assert larger_peak < larger / 3


# -- purge ----------------------------------------------------------------------------------------------


def _counts(database: Database) -> tuple[int, int, int]:
    """Stored assessments, audit records and purged ids, counted behind the store's back."""
    return tuple(
        database.rows(f"SELECT count(*) FROM {table}")[0][0]
        for table in ("assessments", "audit_records", "purged_assessments")
    )


def test_a_purge_removes_exactly_the_assessments_made_before_its_bound(
    store: Store, database: Database
) -> None:
    """--before 2025-01-01 removes the two assessments made in 2024 and no other, appends one purge record
    naming them (their ids' sha256, in the order of their records) and who purged; audit verify passes
    and says so."""
    ids = _dated(store)

    code, out, err = _vertaid(database, "purge", "--before", "2025-01-01", "--yes", "--by", "alice")

    assert (code, err) == (0, "")
    assert (
        out
        == "Purged 2 stored assessments made before 2025-01-01T00:00:00+00:00 (audit record 4, by alice).\n"
    )
    assert [get_assessment(store, each) is None for each in ids] == [True, True, False]
    assert _counts(database) == (1, 4, 2)
    verdict = verify_audit(store)
    assert verdict.whole
    [purge] = verdict.purges
    assert (purge.sequence, purge.count, purge.before, purge.by) == (
        4,
        2,
        datetime(2025, 1, 1, tzinfo=UTC),
        "alice",
    )
    # Committed newest first, the December assessment's record (2) comes before November's (3).
    [(ids_sha256,)] = database.rows("SELECT purged_ids_sha256 FROM audit_records WHERE sequence = 4")
    assert ids_sha256 == hashlib.sha256(f"{ids[1]}\n{ids[0]}\n".encode()).hexdigest()
    code, out, _ = _vertaid(database, "audit", "verify")
    assert code == 0
    assert out.splitlines()[1] == (
        f"Record 4 is a purge by alice at {purge.at.isoformat()}: 2 assessments made before "
        "2025-01-01T00:00:00+00:00 removed, each accounted for."
    )


def test_a_purge_asks_before_it_deletes_anything(store: Store, database: Database) -> None:
    """Without --yes the purge says how many it would delete and asks: 'n' (or no answer) deletes
    nothing (exit 1); 'y' deletes them."""
    _dated(store)

    refused = _vertaid(database, "purge", "--before", "2024-12-01", "--by", "alice", input="n\n")
    unanswered = _vertaid(database, "purge", "--before", "2024-12-01", "--by", "alice", input="")
    assert _counts(database) == (3, 3, 0)
    accepted = _vertaid(database, "purge", "--before", "2024-12-01", "--by", "alice", input="y\n")

    for code, out, err in (refused, unanswered):
        assert code == 1 and "Purged" not in out  # (the test runner echoes the answer to standard output)
        assert "Delete the 1 stored assessments made before 2024-12-01T00:00:00+00:00?" in err
        assert err.endswith("vertaid purge: not confirmed; nothing was deleted\n")
    assert accepted[0] == 0 and "Purged 1 stored assessments" in accepted[1]
    assert _counts(database) == (2, 4, 1)


def test_a_purge_with_nothing_to_remove_or_a_future_bound_writes_nothing(
    store: Store, database: Database
) -> None:
    """A bound before every assessment: nothing to purge, no record. A bound in the future, or a day that
    is not one: exit 2 with one line, nothing written."""
    _dated(store)

    nothing = _vertaid(database, "purge", "--before", "2024-01-01", "--yes")
    future = _vertaid(database, "purge", "--before", "2999-01-01", "--yes")
    not_a_day = _vertaid(database, "purge", "--before", "2024-13-01", "--yes")

    assert nothing == (
        0,
        "No stored assessment was made before 2024-01-01T00:00:00+00:00: nothing to purge.\n",
        "",
    )
    assert (future[0], future[1]) == (2, "")
    assert future[2] == "vertaid purge: the time bound 2999-01-01T00:00:00.000000+00:00 is in the future\n"
    assert (not_a_day[0], not_a_day[1]) == (2, "")
    assert not_a_day[2].startswith("vertaid purge: --before: '2024-13-01' is not a date")
    assert _counts(database) == (3, 3, 0)


def _refuse_deleting(database: Database, assessment_id: str) -> None:
    """A fault put in behind the store's back: the database refuses to delete this one assessment."""
    if database.dialect == "sqlite":
        database.rows(
            "CREATE TRIGGER injected_fault BEFORE DELETE ON assessments "
            f"WHEN OLD.id = '{assessment_id}' BEGIN SELECT RAISE(ABORT, 'injected fault'); END"
        )
        return
    database.rows(
        "CREATE FUNCTION injected_fault() RETURNS trigger LANGUAGE plpgsql AS $$ "
        "BEGIN RAISE EXCEPTION 'injected fault' USING ERRCODE = 'restrict_violation'; END $$"
    )
    database.rows(
        "CREATE TRIGGER injected_fault BEFORE DELETE ON assessments FOR EACH ROW "
        f"WHEN (OLD.id = '{assessment_id}') EXECUTE FUNCTION injected_fault()"
    )


def test_a_purge_that_fails_leaves_everything_as_it_was(store: Store, database: Database) -> None:
    """When the database refuses to delete the last of the assessments a purge chose, the purge fails
    with one line (exit 2) and nothing is changed: every assessment is there, no purge record or purged
    id was written, and the trail verifies; the same purge then succeeds once the fault is gone."""
    ids = _dated(store)
    _refuse_deleting(database, ids[0])
    before = database.rows("SELECT id, case_json, assessment_json FROM assessments ORDER BY id")

    code, out, err = _vertaid(database, "purge", "--before", "2025-01-01", "--yes", "--by", "alice")

    assert (code, out) == (2, "")
    assert (
        err.startswith("vertaid: the store is unavailable: the purge was not made: ")
        and "injected fault" in err
    )
    assert database.rows("SELECT id, case_json, assessment_json FROM assessments ORDER BY id") == before
    assert _counts(database) == (3, 3, 0)
    assert verify_audit(store).whole
    database.rows(
        "DROP TRIGGER injected_fault" + (" ON assessments" if database.dialect == "postgresql" else "")
    )
    assert _vertaid(database, "purge", "--before", "2025-01-01", "--yes", "--by", "alice")[0] == 0
    assert _counts(database) == (1, 4, 2)


def test_only_a_purge_gets_past_the_append_only_trigger(store: Store, database: Database) -> None:
    """An assessment not named as purged cannot be deleted, no stored assessment can be changed, and the
    list of purged ids cannot be changed either."""
    ids = _dated(store)
    assert _vertaid(database, "purge", "--before", "2024-12-01", "--yes", "--by", "alice")[0] == 0

    for statement in (
        f"DELETE FROM assessments WHERE id = '{ids[2]}'",
        f"UPDATE assessments SET key_name = 'intruder' WHERE id = '{ids[2]}'",
        "DELETE FROM purged_assessments",
        "UPDATE purged_assessments SET purge_sequence = 1",
    ):
        with pytest.raises(DBAPIError, match="append-only"):
            database.rows(statement)
    assert _counts(database) == (2, 4, 1)


@pytest.mark.parametrize(
    ("tampering", "broken_at", "reason"),
    [
        (
            # An intruder uses the purge's way past the trigger: names a kept assessment as purged by
            # record 4 and deletes it.
            [
                "INSERT INTO purged_assessments VALUES ('{kept}', 4)",
                "DELETE FROM assessments WHERE id = '{kept}'",
            ],
            4,
            "record 4 is a purge of 1 assessments, but 2 are listed as removed by it",
        ),
        (
            ["DELETE FROM purged_assessments"],
            3,
            "record 3 names assessment {purged}, which is not stored",
        ),
        (
            ["UPDATE audit_records SET purged_count = 2 WHERE sequence = 4"],
            4,
            "record 4 was altered: its hash does not match its content",
        ),
        (
            ["UPDATE assessments SET key_name = 'intruder' WHERE id = '{kept}'"],
            1,
            "stored assessment {kept} differs from record 1 in: key name",
        ),
    ],
)
def test_audit_verify_after_a_purge_still_catches_tampering(
    store: Store, database: Database, tampering: list[str], broken_at: int, reason: str
) -> None:
    """After a purge, a kept assessment deleted through a forged purge entry, a purged id taken off the
    list, a purge record edited, or a kept assessment edited: verify names the broken record."""
    ids = _dated(store)  # records: 1 is January's (kept), 2 December's, 3 November's
    assert _vertaid(database, "purge", "--before", "2024-12-01", "--yes", "--by", "alice")[0] == 0
    names = {"kept": ids[2], "purged": ids[0]}
    for statement in tampering:
        table = statement.split()[2] if statement.startswith(("INSERT", "DELETE")) else statement.split()[1]
        database.tamper(table, statement.format(**names))

    verdict = verify_audit(store)

    assert (verdict.whole, verdict.first_broken, verdict.reason) == (False, broken_at, reason.format(**names))
