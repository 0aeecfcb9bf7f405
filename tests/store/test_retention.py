"""Data retention: ``vertaid export`` and ``vertaid purge`` on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import stat
import tracemalloc
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.store.conftest import VIGNETTES, Database, vignette_case
from vertaid.cli._app import app
from vertaid.cli._retention import parse_bound
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
