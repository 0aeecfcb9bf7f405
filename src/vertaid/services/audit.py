"""The audit trail (CONTRACT §5): one append-only record per stored assessment, chained by hash.

A record names the case (input) and the assessment (output) by the sha256 of their stored canonical JSON
texts, with the knowledge pack's digest, the time and the API key's name. Its hash is
``sha256(previous_hash + canonical_json(record))`` over UTF-8, with 64 zeros as the first record's previous
hash, so changing, removing or reordering any record, or changing a stored case or assessment, breaks the
chain from there on. The texts are kept once, with the stored assessment (an append-only row too), not
again in the record: half the bytes written per assessment, and a record that says nothing of the case
itself. Records written before (format 1) hold the texts and still verify. ``docs/store.md`` gives the
exact records so that the chain can be checked without vertaid.

A retention purge (:mod:`vertaid.services.retention`) removes stored assessments and appends a record
of its own (``vertaid.purge/1``): the time bound, how many it removed, the sha256 of their ids and who
purged. The chain of hashes is untouched, and verification accounts for every assessment a record names:
stored and agreeing with its record, or listed as removed by a purge record later in the chain whose
count and hash of ids agree with the list.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Final

from vertaid.services.ports import (
    AssessmentEntry,
    AuditedAssessment,
    AuditEntry,
    AuditRepository,
    ChainHead,
    PurgeEntry,
    PurgeSeal,
    Seal,
)

__all__ = [
    "AUDIT_RECORD_FORMAT",
    "GENESIS_HASH",
    "PURGE_RECORD_FORMAT",
    "AuditVerdict",
    "PurgeSummary",
    "PurgedIds",
    "canonical_json",
    "purge_record_text",
    "purge_sealer",
    "record_hash",
    "record_text",
    "sealer_for",
    "text_sha256",
    "verify_audit",
]

AUDIT_RECORD_FORMAT: Final = "vertaid.audit/2"
"""Named in every record, so that a later record format can be told apart and checked by its own rule."""

_TEXTS_RECORD_FORMAT: Final = "vertaid.audit/1"
"""Records that hold the case and assessment texts themselves (written before format 2)."""

PURGE_RECORD_FORMAT: Final = "vertaid.purge/1"
"""Named in a retention purge's record."""

GENESIS_HASH: Final = "0" * 64
"""The previous hash of the first record."""


def canonical_json(value: object) -> str:
    """The one JSON text of ``value`` that is hashed and stored: sorted keys, no spaces, UTF-8, no NaN.

    Raises:
        ValueError: for NaN or an infinity (not JSON); TypeError for a value JSON cannot hold.
    """
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def _timestamp(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def text_sha256(text: str) -> str:
    """The sha256 (hex digits) of a stored text's UTF-8: how a record names a case or an assessment."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _holds_texts(record: AuditEntry) -> bool:
    """Whether a record is of format 1, holding the case and assessment texts instead of their hashes."""
    return record.case_json is not None and record.assessment_json is not None


def record_text(record: AuditEntry) -> str:
    """The canonical JSON of one audit record (what its hash covers, with the previous hash)."""
    if not _holds_texts(record):
        return canonical_json(
            {
                "assessment_id": record.assessment_id,
                "assessment_sha256": record.assessment_sha256,
                "case_sha256": record.case_sha256,
                "key_name": record.key_name,
                "knowledge_digest": record.knowledge_digest,
                "record": AUDIT_RECORD_FORMAT,
                "recorded_at": _timestamp(record.recorded_at),
                "sequence": record.sequence,
            }
        )
    # Format 1: the case and assessment are stored as canonical JSON already, so splicing their texts in
    # gives the canonical JSON of the whole record without parsing them again. The keys ``assessment``,
    # ``assessment_id`` and ``case`` sort before all the others.
    rest = canonical_json(
        {
            "key_name": record.key_name,
            "knowledge_digest": record.knowledge_digest,
            "record": _TEXTS_RECORD_FORMAT,
            "recorded_at": _timestamp(record.recorded_at),
            "sequence": record.sequence,
        }
    )
    return (
        f'{{"assessment":{record.assessment_json},"assessment_id":{canonical_json(record.assessment_id)},'
        f'"case":{record.case_json},{rest[1:]}'
    )


def record_hash(previous_hash: str, text: str) -> str:
    """The hash that chains a record (its canonical JSON ``text``) to the record before it."""
    return hashlib.sha256((previous_hash + text).encode("utf-8")).hexdigest()


def _hash_of(record: AuditEntry) -> str:
    return record_hash(record.previous_hash, record_text(record))


def sealer_for(entry: AssessmentEntry) -> Seal:
    """The seal that makes ``entry``'s audit record once the store has read the chain's head."""

    def seal(head: ChainHead | None) -> AuditEntry:
        sequence = 1 if head is None else head.sequence + 1
        previous_hash = GENESIS_HASH if head is None else head.record_hash
        unsealed = AuditEntry(
            sequence=sequence,
            assessment_id=entry.id,
            recorded_at=entry.created_at,
            key_name=entry.key_name,
            knowledge_digest=entry.knowledge_digest,
            case_sha256=text_sha256(entry.case_json),
            assessment_sha256=text_sha256(entry.assessment_json),
            previous_hash=previous_hash,
            record_hash="",
        )
        return replace(unsealed, record_hash=_hash_of(unsealed))

    return seal


def purge_record_text(record: PurgeEntry) -> str:
    """The canonical JSON of a purge's audit record (what its hash covers, with the previous hash)."""
    return canonical_json(
        {
            "purged_before": _timestamp(record.purged_before),
            "purged_by": record.purged_by,
            "purged_count": record.purged_count,
            "purged_ids_sha256": record.purged_ids_sha256,
            "record": PURGE_RECORD_FORMAT,
            "recorded_at": _timestamp(record.recorded_at),
            "sequence": record.sequence,
        }
    )


class PurgedIds:
    """How many assessments a purge removed and the sha256 of their ids, each followed by a newline, in
    the order of their audit records: made by the purge, and again by verification, one id at a time."""

    def __init__(self, ids: Iterable[str] = ()) -> None:
        self._hash = hashlib.sha256()
        self.count = 0
        for each in ids:
            self.add(each)

    def add(self, assessment_id: str) -> None:
        """Count one more removed assessment."""
        self._hash.update(assessment_id.encode("utf-8") + b"\n")
        self.count += 1

    @property
    def sha256(self) -> str:
        """The sha256 (hex digits) of the ids so far."""
        return self._hash.hexdigest()


def purge_sealer(*, before: datetime, by: str, at: datetime) -> PurgeSeal:
    """The seal of a purge of the assessments made before ``before``, by ``by`` at ``at``: it counts and
    hashes the ids the store gives it and chains the record to the head."""

    def seal(head: ChainHead | None, ids: Iterable[str]) -> PurgeEntry:
        purged = PurgedIds(ids)
        unsealed = PurgeEntry(
            sequence=1 if head is None else head.sequence + 1,
            recorded_at=at,
            purged_before=before,
            purged_count=purged.count,
            purged_ids_sha256=purged.sha256,
            purged_by=by,
            previous_hash=GENESIS_HASH if head is None else head.record_hash,
            record_hash="",
        )
        return replace(unsealed, record_hash=record_hash(unsealed.previous_hash, purge_record_text(unsealed)))

    return seal


@dataclass(frozen=True)
class PurgeSummary:
    """A purge found in the audit trail: its record's sequence number, how many assessments it removed,
    the time bound, who and when."""

    sequence: int
    count: int
    before: datetime
    by: str
    at: datetime


@dataclass(frozen=True)
class AuditVerdict:
    """What verifying the audit trail found.

    ``whole`` is true when every record's hash matches its content and its predecessor, the sequence has
    no gap, and every stored assessment matches its record. Otherwise ``first_broken`` is the sequence
    number of the first record that fails (``None`` when the records are whole but a stored assessment has
    no record at all) and ``reason`` says what is wrong. ``head_hash`` is the last record's hash: kept
    somewhere else, it shows later that the trail's end was not rewritten. ``purges`` lists the purge
    records read (all of them when the trail is whole).
    """

    whole: bool
    records: int
    first_broken: int | None
    reason: str | None
    head_hash: str | None = None
    purges: tuple[PurgeSummary, ...] = field(default=())


def _differences(record: AuditEntry, assessment: AssessmentEntry) -> list[str]:
    texts: dict[str, tuple[object, object]] = (
        {
            "case": (record.case_json, assessment.case_json),
            "assessment": (record.assessment_json, assessment.assessment_json),
        }
        if _holds_texts(record)
        else {
            "case": (record.case_sha256, text_sha256(assessment.case_json)),
            "assessment": (record.assessment_sha256, text_sha256(assessment.assessment_json)),
        }
    )
    pairs = {
        **texts,
        "knowledge digest": (record.knowledge_digest, assessment.knowledge_digest),
        "time": (record.recorded_at, assessment.created_at),
        "key name": (record.key_name, assessment.key_name),
    }
    return [name for name, (recorded, stored) in pairs.items() if recorded != stored]


@dataclass
class _Listed:
    """The ids listed as removed by one purge, as verification meets them, before its record."""

    ids: PurgedIds = field(default_factory=PurgedIds)
    first: str = ""


def _chain_problem(
    sequence: int, found: int, previous_hash: str, chained_to: str, sealed: bool
) -> str | None:
    if found != sequence:
        return f"record {sequence} is missing (the trail goes on at record {found})"
    if chained_to != previous_hash:
        return f"record {sequence} is not chained to record {sequence - 1} (previous hash differs)"
    if not sealed:
        return f"record {sequence} was altered: its hash does not match its content"
    return None


def _assessment_problem(audited: AuditedAssessment, sequence: int, listed: dict[int, _Listed]) -> str | None:
    record = audited.record
    if audited.assessment is None:
        if audited.purged_by is None:
            return f"record {sequence} names assessment {record.assessment_id}, which is not stored"
        # Accounted for when the purge's record is read (it comes later in the chain).
        removed = listed.setdefault(audited.purged_by, _Listed(first=record.assessment_id))
        removed.ids.add(record.assessment_id)
        return None
    if audited.purged_by is not None:
        return (
            f"stored assessment {record.assessment_id} is listed as removed by record {audited.purged_by}, "
            "but it is still stored"
        )
    differences = _differences(record, audited.assessment)
    if differences:
        return f"stored assessment {record.assessment_id} differs from record {sequence} in: " + ", ".join(
            differences
        )
    return None


def _purge_problem(record: PurgeEntry, listed: dict[int, _Listed]) -> str | None:
    removed = listed.pop(record.sequence, _Listed()).ids
    if removed.count != record.purged_count:
        return (
            f"record {record.sequence} is a purge of {record.purged_count} assessments, but "
            f"{removed.count} are listed as removed by it"
        )
    if removed.sha256 != record.purged_ids_sha256:
        return (
            f"record {record.sequence} is a purge, but the ids listed as removed by it are not the ones "
            "it names"
        )
    return None


def _problem(
    item: AuditedAssessment | PurgeEntry, sequence: int, previous_hash: str, listed: dict[int, _Listed]
) -> str | None:
    """The first thing wrong with the record ``sequence``, or ``None``."""
    if isinstance(item, PurgeEntry):
        sealed = record_hash(item.previous_hash, purge_record_text(item)) == item.record_hash
        chain = _chain_problem(sequence, item.sequence, previous_hash, item.previous_hash, sealed)
        return chain or _purge_problem(item, listed)
    record = item.record
    sealed = _hash_of(record) == record.record_hash
    chain = _chain_problem(sequence, record.sequence, previous_hash, record.previous_hash, sealed)
    return chain or _assessment_problem(item, sequence, listed)


def verify_audit(store: AuditRepository) -> AuditVerdict:
    """Recompute every record's hash, compare every stored assessment with its record, and account for
    every purged one with its purge's record.

    Reads the whole trail (counting every record even after the first broken one); never writes. Holds
    no more than one entry per purge whose removed assessments have been met and whose record has not.
    """
    records = 0
    previous_hash = GENESIS_HASH
    broken: tuple[int, str] | None = None
    listed: dict[int, _Listed] = {}
    purges: list[PurgeSummary] = []
    for item in store.audit_trail():
        records += 1
        if broken is None:
            problem = _problem(item, records, previous_hash, listed)
            if problem is not None:
                broken = (records, problem)
            elif isinstance(item, PurgeEntry):
                purges.append(
                    PurgeSummary(
                        item.sequence, item.purged_count, item.purged_before, item.purged_by, item.recorded_at
                    )
                )
        previous_hash = item.record_hash if isinstance(item, PurgeEntry) else item.record.record_hash
    head_hash = previous_hash if records else None
    if broken is None and listed:
        purge, removed = next(iter(listed.items()))
        reason = (
            f"assessment {removed.first} is listed as removed by record {purge}, which is not a purge "
            "record after its own"
        )
        return AuditVerdict(False, records, None, reason, head_hash, tuple(purges))
    if broken is None:
        unaudited = store.unaudited_assessment_ids(limit=1)
        if unaudited:
            reason = f"stored assessment {unaudited[0]} has no audit record"
            return AuditVerdict(False, records, None, reason, head_hash, tuple(purges))
        return AuditVerdict(True, records, None, None, head_hash, tuple(purges))
    return AuditVerdict(False, records, broken[0], broken[1], head_hash, tuple(purges))
