"""Data retention: export the stored assessments made in a period, and purge those made before a day.

A purge removes the stored assessments made before a moment, in one transaction with a record of its own
in the audit trail (:func:`vertaid.services.audit.purge_sealer`): their audit records stay, naming the
removed case and assessment only by hash, and ``vertaid audit verify`` accounts for each of them.

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

from vertaid.services.audit import canonical_json, purge_sealer
from vertaid.services.keys import checked_name
from vertaid.services.ports import AssessmentEntry, PurgeEntry, RetentionRepository

__all__ = ["EXPORT_FORMAT", "check_purge_bound", "export_line", "export_lines", "purge_assessments"]

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


def check_purge_bound(before: datetime, now: datetime) -> None:
    """Refuse a purge's time bound that has no timezone or is later than ``now``.

    Raises:
        ValueError: saying which.
    """
    if before.tzinfo is None:
        raise ValueError("the time bound has no timezone")
    if before > now:
        # Assessments are being made now: a bound in the future would remove them as they are stored.
        raise ValueError(f"the time bound {_timestamp(before)} is in the future")


def purge_assessments(
    store: RetentionRepository, *, before: datetime, by: str, now: datetime | None = None
) -> PurgeEntry | None:
    """Remove the stored assessments made before ``before`` and record the purge in the audit trail, in
    one transaction; the purge's record once committed, or ``None`` when there was nothing to remove.

    Args:
        store: the store (``vertaid.store.open_store``).
        before: the time bound (timezone-aware); not later than ``now``.
        by: who purges (recorded; 1 to 100 characters).
        now: the purge's time; the clock by default.

    Raises:
        ValueError: ``before`` is in the future or has no timezone, or ``by`` cannot name anyone.
        StoreUnavailable: the store did not answer or refused the purge; nothing was changed.
    """
    at = now if now is not None else datetime.now(UTC)
    check_purge_bound(before, at)
    who = checked_name(by, "the purger's name", "say who purges")
    return store.purge_assessments(before=before, seal=purge_sealer(before=before, by=who, at=at))
