"""Data retention: export the stored assessments made in a period, and purge those made before a day.

An export is JSON Lines: one line per stored assessment, oldest first, each the canonical JSON object

    {"assessment": {...}, "case": {...}, "created_at": "...", "export": "vertaid.export/1", "id": "...",
     "key_name": "..." or null, "knowledge_digest": "..."}

with the case and the assessment exactly as stored (their texts are the ones the audit trail hashes).
Lines are made one at a time from rows read in batches, so an export of any size takes the same memory.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Final

from vertaid.services.audit import canonical_json
from vertaid.services.ports import AssessmentEntry, RetentionRepository

__all__ = ["EXPORT_FORMAT", "export_line", "export_lines"]

EXPORT_FORMAT: Final = "vertaid.export/1"
"""Named in every exported line, so that a later line format can be told apart."""


def _timestamp(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def export_line(entry: AssessmentEntry) -> bytes:
    """One stored assessment as its export line (canonical JSON and a newline, UTF-8).

    The stored texts are canonical JSON already: they are spliced in, not parsed and written again.
    The keys ``assessment`` and ``case`` sort before all the others.
    """
    rest = canonical_json(
        {
            "created_at": _timestamp(entry.created_at),
            "export": EXPORT_FORMAT,
            "id": entry.id,
            "key_name": entry.key_name,
            "knowledge_digest": entry.knowledge_digest,
        }
    )
    return f'{{"assessment":{entry.assessment_json},"case":{entry.case_json},{rest[1:]}\n'.encode()


def export_lines(
    store: RetentionRepository, *, after: datetime | None = None, before: datetime | None = None
) -> Iterator[bytes]:
    """The export lines of the assessments made at or after ``after`` and before ``before`` (either
    bound may be left open), oldest first, read from the store as they are needed."""
    for entry in store.assessments_made(after=after, before=before):
        yield export_line(entry)
