"""Stored assessments: assess a case, keep it with its audit record, read it back.

A write is acknowledged only after it is committed: :func:`record_assessment` returns once the store has
committed the assessment and its audit record in one transaction, and writes nothing for an invalid case.
A server with many writers splits it: :func:`prepare_assessment` (the engine's work, on any thread) and
:func:`commit_assessments` (many prepared assessments in one transaction, which returns after the commit).
Ids are ``uuid4`` hex (32 lowercase hexadecimal digits): opaque, unguessable and safe in a URL.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

from vertaid.domain.assessment import conflict_entry, fixed_sections
from vertaid.domain.case import InvalidCase
from vertaid.domain.pack import KnowledgePack
from vertaid.knowledge import default_pack
from vertaid.services.assessment import assess
from vertaid.services.audit import canonical_json, sealer_for
from vertaid.services.ports import AssessmentAppend, AssessmentEntry, AssessmentRepository

__all__ = [
    "MAX_RECENT",
    "PreparedAssessment",
    "StoredAssessment",
    "commit_assessments",
    "get_assessment",
    "is_assessment_id",
    "prepare_assessment",
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


@dataclass(frozen=True)
class PreparedAssessment:
    """A case assessed and made ready to store, not stored yet (:func:`prepare_assessment`).

    ``entry`` holds the canonical JSON texts that are stored and hashed; ``case`` is a fresh copy of the
    case as given (parsed back from that text), ``assessment`` the engine's own fresh document.
    """

    entry: AssessmentEntry
    case: dict[str, Any]
    assessment: dict[str, Any]


def prepare_assessment(
    case: object,
    *,
    key_name: str | None,
    pack: KnowledgePack | None = None,
) -> PreparedAssessment:
    """Assess ``case`` and make what is stored of it: its id, its time and its canonical JSON texts.

    Touches no store, so it can run anywhere (the web app runs it on many threads and commits on one).

    Raises:
        InvalidCase: the case is not valid, or holds what JSON or a database cannot (each problem names
            its path).
    """
    pack = pack if pack is not None else default_pack()
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
        assessment_json=_assessment_json(assessment, pack),
    )
    # The case is parsed back from its stored text, so that the caller's later changes to its case do not
    # show in what it is given back.
    return PreparedAssessment(entry=entry, case=json.loads(case_json), assessment=assessment)


def _assessment_json(assessment: dict[str, Any], pack: KnowledgePack) -> str:
    """``canonical_json(assessment)`` for an assessment fresh from the engine, made faster.

    The members that every assessment with the same decision shares (:func:`fixed_sections`: two thirds
    of the text) are written once per pack and spliced in, and so is each of the pack's conflicts of
    evidence that the assessment lists (the same for every case: half of what is left); the rest is
    written as usual. The object's keys are sorted, with no spaces, exactly as ``canonical_json`` writes
    them, so the text is the same.
    """
    texts = pack.derived("canonical JSON of the fixed sections", _fixed_section_texts)[assessment["decision"]]
    conflict_texts = pack.derived("canonical JSON of each conflict", _conflict_texts)

    def member(name: str) -> str:
        if name in texts:
            return texts[name]
        if name == "conflicts":
            return "[" + ",".join(conflict_texts[conflict["id"]] for conflict in assessment[name]) + "]"
        return canonical_json(assessment[name])

    return "{" + ",".join(f"{canonical_json(name)}:{member(name)}" for name in sorted(assessment)) + "}"


def _conflict_texts(pack: KnowledgePack) -> dict[str, str]:
    return {conflict.id: canonical_json(conflict_entry(conflict)) for conflict in pack.conflicts}


def _fixed_section_texts(pack: KnowledgePack) -> dict[str, dict[str, str]]:
    return {
        decision: {name: canonical_json(value) for name, value in fixed_sections(pack, decision).items()}
        for decision in pack.decisions
    }


def commit_assessments(
    store: AssessmentRepository, prepared: Sequence[PreparedAssessment]
) -> list[StoredAssessment]:
    """Store every prepared assessment with its audit record, all in one transaction; return them, in
    order, once that transaction is committed.

    The audit records are chained in the order given. One commit for many assessments is one flush to
    disk for all of them (group commit), which is what lets a server keep up with many writers.

    Raises:
        StoreUnavailable: the store did not answer; none of them is stored.
    """
    store.append_assessments([AssessmentAppend(each.entry, sealer_for(each.entry)) for each in prepared])
    return [
        StoredAssessment(
            id=each.entry.id,
            created_at=each.entry.created_at,
            key_name=each.entry.key_name,
            case=each.case,
            assessment=each.assessment,
            knowledge_digest=each.entry.knowledge_digest,
        )
        for each in prepared
    ]


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
    [stored] = commit_assessments(store, [prepare_assessment(case, key_name=key_name, pack=pack)])
    return stored


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
