"""The audit trail (CONTRACT §5): one append-only record per stored assessment, chained by hash.

A record names the case (input) and the assessment (output) by the sha256 of their stored canonical JSON
texts, with the knowledge pack's digest, the time and the API key's name. Its hash is
``sha256(previous_hash + canonical_json(record))`` over UTF-8, with 64 zeros as the first record's previous
hash, so changing, removing or reordering any record, or changing a stored case or assessment, breaks the
chain from there on. The texts are kept once, with the stored assessment (an append-only row too), not
again in the record: half the bytes written per assessment, and a record that says nothing of the case
itself. Records written before (format 1) hold the texts and still verify. ``docs/store.md`` gives the
exact records so that the chain can be checked without vertaid.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Final

from vertaid.services.ports import (
    AssessmentEntry,
    AuditedAssessment,
    AuditEntry,
    AuditRepository,
    ChainHead,
    Seal,
)

__all__ = [
    "AUDIT_RECORD_FORMAT",
    "GENESIS_HASH",
    "AuditVerdict",
    "canonical_json",
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


def record_text(record: AuditEntry) -> str:
    """The canonical JSON of one audit record (what its hash covers, with the previous hash)."""
    if record.case_json is None or record.assessment_json is None:
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


@dataclass(frozen=True)
class AuditVerdict:
    """What verifying the audit trail found.

    ``whole`` is true when every record's hash matches its content and its predecessor, the sequence has
    no gap, and every stored assessment matches its record. Otherwise ``first_broken`` is the sequence
    number of the first record that fails (``None`` when the records are whole but a stored assessment has
    no record at all) and ``reason`` says what is wrong. ``head_hash`` is the last record's hash: kept
    somewhere else, it shows later that the trail's end was not rewritten.
    """

    whole: bool
    records: int
    first_broken: int | None
    reason: str | None
    head_hash: str | None = None


def _differences(record: AuditEntry, assessment: AssessmentEntry) -> list[str]:
    texts: dict[str, tuple[object, object]] = (
        {
            "case": (record.case_json, assessment.case_json),
            "assessment": (record.assessment_json, assessment.assessment_json),
        }
        if record.case_json is not None
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


def _problem(audited: AuditedAssessment, sequence: int, previous_hash: str) -> tuple[int, str] | None:
    """The first thing wrong with one record, as (the broken record's sequence number, why)."""
    record = audited.record
    if record.sequence != sequence:
        return sequence, f"record {sequence} is missing (the trail goes on at record {record.sequence})"
    if record.previous_hash != previous_hash:
        return sequence, f"record {sequence} is not chained to record {sequence - 1} (previous hash differs)"
    if _hash_of(record) != record.record_hash:
        return sequence, f"record {sequence} was altered: its hash does not match its content"
    if audited.assessment is None:
        return sequence, f"record {sequence} names assessment {record.assessment_id}, which is not stored"
    differences = _differences(record, audited.assessment)
    if differences:
        return sequence, (
            f"stored assessment {record.assessment_id} differs from record {sequence} in: "
            + ", ".join(differences)
        )
    return None


def verify_audit(store: AuditRepository) -> AuditVerdict:
    """Recompute every record's hash and compare every stored assessment with its record.

    Reads the whole trail (counting every record even after the first broken one); never writes.
    """
    records = 0
    previous_hash = GENESIS_HASH
    broken: tuple[int, str] | None = None
    for audited in store.audit_trail():
        records += 1
        if broken is None:
            broken = _problem(audited, records, previous_hash)
        previous_hash = audited.record.record_hash
    head_hash = previous_hash if records else None
    if broken is None:
        unaudited = store.unaudited_assessment_ids(limit=1)
        if unaudited:
            reason = f"stored assessment {unaudited[0]} has no audit record"
            return AuditVerdict(False, records, None, reason, head_hash)
        return AuditVerdict(True, records, None, None, head_hash)
    return AuditVerdict(False, records, broken[0], broken[1], head_hash)
