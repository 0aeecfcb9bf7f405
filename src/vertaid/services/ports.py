"""What the stored-assessment, key and audit use cases need from a store, as protocols.

The use cases in :mod:`vertaid.services` own the rules (what an audit record holds, how it is chained,
how a key is checked); a store adapter (``vertaid.store``) only keeps rows and serialises writers. The
dependency points inward: the adapter implements these protocols and the services never import it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

__all__ = [
    "ApiKeyEntry",
    "AssessmentEntry",
    "AssessmentRepository",
    "AuditEntry",
    "AuditRepository",
    "AuditedAssessment",
    "ChainHead",
    "KeyNameTaken",
    "KeyRepository",
    "Seal",
    "StoreUnavailable",
]


class StoreUnavailable(RuntimeError):
    """The store does not answer (unreachable, refused, locked too long, not a usable database).

    The message is one line naming the cause; the web app answers 503 and the CLI exits 2 with it.
    """


class KeyNameTaken(ValueError):
    """An API key with this name exists already: names identify keys in the audit trail."""


@dataclass(frozen=True, slots=True)
class AssessmentEntry:
    """A stored assessment as the store keeps it: the case and the assessment as canonical JSON text."""

    id: str
    created_at: datetime
    key_name: str | None
    knowledge_digest: str
    case_json: str
    assessment_json: str


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One record of the audit trail: what was assessed, with what, when and by whom, chained by hash."""

    sequence: int
    assessment_id: str
    recorded_at: datetime
    key_name: str | None
    knowledge_digest: str
    case_json: str
    assessment_json: str
    previous_hash: str
    record_hash: str


@dataclass(frozen=True, slots=True)
class ChainHead:
    """The last record of the audit trail, to which the next one is chained."""

    sequence: int
    record_hash: str


Seal = Callable[[ChainHead | None], AuditEntry]
"""Makes the audit record to append, given the chain's head (``None`` while the trail is empty)."""


@dataclass(frozen=True, slots=True)
class AuditedAssessment:
    """An audit record with the stored assessment it names (``None`` when that assessment is gone)."""

    record: AuditEntry
    assessment: AssessmentEntry | None


@dataclass(frozen=True, slots=True)
class ApiKeyEntry:
    """An API key as stored: its public id, its name and the sha256 of its secret, never the secret."""

    key_id: str
    name: str
    secret_hash: str
    created_at: datetime


class AssessmentRepository(Protocol):
    """Where assessments and their audit records are kept."""

    def append_assessment(self, entry: AssessmentEntry, seal: Seal) -> AuditEntry:
        """Store ``entry`` and the audit record ``seal`` makes from the chain's head, in one transaction.

        Appends are serialised: no other append reads the head between this one's read and its commit,
        so the chain cannot fork. Returns the appended record once the transaction is committed.
        """
        ...

    def find_assessment(self, assessment_id: str) -> AssessmentEntry | None:
        """The stored assessment with this id, or ``None``."""
        ...

    def newest_assessments(self, limit: int) -> list[AssessmentEntry]:
        """Up to ``limit`` stored assessments, the most recently appended first."""
        ...


class AuditRepository(Protocol):
    """Read access to the whole audit trail, for verification."""

    def audit_trail(self) -> Iterator[AuditedAssessment]:
        """Every audit record in sequence order, each with the stored assessment it names."""
        ...

    def unaudited_assessment_ids(self, limit: int) -> list[str]:
        """Up to ``limit`` ids of stored assessments that no audit record names (there should be none)."""
        ...


class KeyRepository(Protocol):
    """Where API keys are kept (hashed)."""

    def add_key(self, entry: ApiKeyEntry) -> None:
        """Store a new key; raises :class:`KeyNameTaken` when a key of that name exists."""
        ...

    def find_key(self, key_id: str) -> ApiKeyEntry | None:
        """The key with this public id, or ``None``."""
        ...
