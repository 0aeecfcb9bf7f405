"""Stored assessments: assess a case, keep it with its audit record, read it back.

A write is acknowledged only after it is committed: :func:`record_assessment` returns once the store has
committed the assessment and its audit record in one transaction, and writes nothing for an invalid case.
Ids are ``uuid4`` hex (32 lowercase hexadecimal digits): opaque, unguessable and safe in a URL.
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

from vertaid.domain.case import InvalidCase
from vertaid.domain.pack import KnowledgePack
from vertaid.services.assessment import assess
from vertaid.services.audit import canonical_json, sealer_for
from vertaid.services.ports import AssessmentEntry, AssessmentRepository

__all__ = [
    "MAX_RECENT",
    "StoredAssessment",
    "get_assessment",
    "is_assessment_id",
    "recent_assessments",
    "record_assessment",
]

MAX_RECENT: Final = 1000
"""The most assessments :func:`recent_assessments` returns at once."""

_ASSESSMENT_ID: Final = re.compile(r"[0-9a-f]{32}")


@dataclass(frozen=True)
class StoredAssessment:
    """An assessment as stored: the case as submitted, the assessment, and who asked for it when."""

    id: str
    created_at: datetime
    key_name: str | None
    case: dict[str, Any]
    assessment: dict[str, Any]
    knowledge_digest: str


def is_assessment_id(text: object) -> bool:
    """Whether ``text`` has the form of a stored assessment's id (it may still name none)."""
    return isinstance(text, str) and _ASSESSMENT_ID.fullmatch(text) is not None


def _stored(entry: AssessmentEntry) -> StoredAssessment:
    # Parsed afresh for each caller, so that what one caller changes no other caller sees.
    case: dict[str, Any] = json.loads(entry.case_json)
    assessment: dict[str, Any] = json.loads(entry.assessment_json)
    return StoredAssessment(
        id=entry.id,
        created_at=entry.created_at,
        key_name=entry.key_name,
        case=case,
        assessment=assessment,
        knowledge_digest=entry.knowledge_digest,
    )


def _unpaired_surrogate(value: object, path: str) -> str | None:
    """The path of the first text holding a lone surrogate (JSON's ``"\\ud800"`` escape decodes to one,
    and no database can store it as UTF-8), or ``None``."""
    if isinstance(value, str):
        return None if _encodes(value) else path
    if isinstance(value, dict):
        for key, member in value.items():
            inner = str(key) if path == "$" else f"{path}.{key}"
            found = _unpaired_surrogate(key, inner) or _unpaired_surrogate(member, inner)
            if found is not None:
                return found
    elif isinstance(value, list):
        for index, member in enumerate(value):
            found = _unpaired_surrogate(member, f"{'' if path == '$' else path}[{index}]")
            if found is not None:
                return found
    return None


def _encodes(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def record_assessment(
    store: AssessmentRepository,
    case: object,
    *,
    key_name: str | None,
    pack: KnowledgePack | None = None,
) -> StoredAssessment:
    """Assess ``case`` and store the assessment with its audit record; return it once committed.

    Args:
        store: where to keep it (``vertaid.store.open_store``).
        case: a ``vertaid.case/1`` object, as parsed from JSON.
        key_name: the name of the API key that asked, or ``None`` (the command line, the demo loader).
        pack: the knowledge pack; the one that ships with vertaid by default.

    Raises:
        InvalidCase: the case is not valid (each problem names its path); nothing is written.
        StoreUnavailable: the store did not answer; nothing is written.
    """
    assessment = assess(case, pack)
    try:
        case_json = canonical_json(case)
    except (TypeError, ValueError) as error:  # a Python caller's case that JSON cannot hold
        raise InvalidCase([("$", f"is not JSON data: {error}")]) from None
    if not _encodes(case_json):
        where = _unpaired_surrogate(case, "$") or "$"
        raise InvalidCase([(where, "holds an unpaired UTF-16 surrogate (\\ud800-\\udfff): not text")])
    entry = AssessmentEntry(
        id=uuid.uuid4().hex,
        created_at=datetime.now(UTC),
        key_name=key_name,
        knowledge_digest=assessment["knowledge"]["digest"],
        case_json=case_json,
        assessment_json=canonical_json(assessment),
    )
    store.append_assessment(entry, sealer_for(entry))
    # The assessment is this call's own fresh document; the case is parsed back from what was stored, so
    # that the caller's later changes to its case do not show in what it was given back.
    return StoredAssessment(
        id=entry.id,
        created_at=entry.created_at,
        key_name=entry.key_name,
        case=json.loads(case_json),
        assessment=assessment,
        knowledge_digest=entry.knowledge_digest,
    )


def get_assessment(store: AssessmentRepository, assessment_id: str) -> StoredAssessment | None:
    """The stored assessment with this id; ``None`` for an unknown or malformed id."""
    if not is_assessment_id(assessment_id):
        return None
    entry = store.find_assessment(assessment_id)
    return None if entry is None else _stored(entry)


def recent_assessments(store: AssessmentRepository, limit: int = 50) -> list[StoredAssessment]:
    """The most recently stored assessments, newest first.

    Raises:
        ValueError: ``limit`` is not a whole number from 1 to :data:`MAX_RECENT`.
    """
    if not 1 <= limit <= MAX_RECENT:
        raise ValueError(f"limit must be a whole number from 1 to {MAX_RECENT}, not {limit!r}")
    return [_stored(entry) for entry in store.newest_assessments(limit)]
