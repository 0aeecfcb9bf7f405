"""What the stored-assessment, key, audit and CDS Hooks use cases need from a store, as protocols.

The use cases in :mod:`vertaid.services` own the rules (what an audit record holds, how it is chained,
how a key is checked); a store adapter (``vertaid.store``) only keeps rows and serialises writers. The
dependency points inward: the adapter implements these protocols and the services never import it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

__all__ = [
    "ApiKeyEntry",
    "AssessmentAppend",
    "AssessmentEntry",
    "AssessmentRepository",
    "AuditEntry",
    "AuditRepository",
    "AuditedAssessment",
    "CdsFeedbackEntry",
    "CdsFeedbackRepository",
    "CdsTokenRepository",
    "ChainHead",
    "KeyNameTaken",
    "KeyRepository",
    "PurgeEntry",
    "PurgeSeal",
    "RetentionRepository",
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
    """One record of the audit trail: what was assessed, with what, when and by whom, chained by hash.

    A record names the case and the assessment by the sha256 of their stored texts (record format 2).
    Records of format 1, written before, hold the texts themselves instead, and no hashes.
    """

    sequence: int
    assessment_id: str
    recorded_at: datetime
    key_name: str | None
    knowledge_digest: str
    case_sha256: str | None
    assessment_sha256: str | None
    previous_hash: str
    record_hash: str
    case_json: str | None = None
    assessment_json: str | None = None


@dataclass(frozen=True, slots=True)
class ChainHead:
    """The last record of the audit trail, to which the next one is chained."""

    sequence: int
    record_hash: str


Seal = Callable[[ChainHead | None], AuditEntry]
"""Makes the audit record to append, given the chain's head (``None`` while the trail is empty)."""


@dataclass(frozen=True, slots=True)
class AssessmentAppend:
    """One assessment to append, with the seal that makes its audit record from the chain's head."""

    entry: AssessmentEntry
    seal: Seal


@dataclass(frozen=True, slots=True)
class AuditedAssessment:
    """An audit record with the stored assessment it names (``None`` when that assessment is gone), and
    the sequence number of the purge that says it removed that assessment (``None``: none says so)."""

    record: AuditEntry
    assessment: AssessmentEntry | None
    purged_by: int | None = None


@dataclass(frozen=True, slots=True)
class PurgeEntry:
    """A retention purge's record in the audit trail: it removed ``purged_count`` stored assessments,
    those made before ``purged_before``, whose ids (in the order of their audit records, each followed by
    a newline) have the sha256 ``purged_ids_sha256``; ``purged_by`` says who, ``recorded_at`` when."""

    sequence: int
    recorded_at: datetime
    purged_before: datetime
    purged_count: int
    purged_ids_sha256: str
    purged_by: str
    previous_hash: str
    record_hash: str


PurgeSeal = Callable[[ChainHead | None, Iterator[str]], PurgeEntry]
"""Makes a purge's audit record from the chain's head and the ids of the assessments it removes, given
one at a time in the order of their audit records."""


@dataclass(frozen=True, slots=True)
class ApiKeyEntry:
    """An API key as stored: its public id, its name and the sha256 of its secret, never the secret."""

    key_id: str
    name: str
    secret_hash: str
    created_at: datetime


class AssessmentRepository(Protocol):
    """Where assessments and their audit records are kept."""

    def append_assessments(self, appends: Sequence[AssessmentAppend]) -> list[AuditEntry]:
        """Store every entry, each with the audit record its seal makes, in one transaction.

        The first seal is given the chain's head, each later one the record the seal before it made, so
        the records are chained in the order given. Appends are serialised: no other append reads the
        head between this one's read and its commit, so the chain cannot fork. Returns the appended
        records, in order, once the transaction is committed; when it fails, none of them is stored.
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

    def audit_trail(self) -> Iterator[AuditedAssessment | PurgeEntry]:
        """Every audit record in sequence order: an assessment's, with the stored assessment it names and
        the purge that removed it, if one did; or a purge's."""
        ...

    def unaudited_assessment_ids(self, limit: int) -> list[str]:
        """Up to ``limit`` ids of stored assessments that no audit record names (there should be none)."""
        ...


class RetentionRepository(Protocol):
    """Stored assessments read, and purged, by when they were made."""

    def assessments_made(
        self, *, after: datetime | None = None, before: datetime | None = None
    ) -> Iterator[AssessmentEntry]:
        """The stored assessments made at or after ``after`` and before ``before`` (``None``: no bound),
        oldest first (ties by id), read in batches: never all held at once."""
        ...

    def count_assessments_made(self, *, before: datetime) -> int:
        """How many stored assessments were made before ``before``."""
        ...

    def purge_assessments(self, *, before: datetime, seal: PurgeSeal) -> PurgeEntry | None:
        """Remove the stored assessments made before ``before``, with a purge record, in one transaction.

        Taking its turn with the appends, it gives ``seal`` the chain's head and the ids of the
        assessments to remove, appends the record the seal makes, names each id in the purged list with
        that record, and deletes them. Returns the record once committed; ``None``, with nothing
        written, when no assessment was made before ``before``. When it fails, nothing is changed.
        """
        ...


class KeyRepository(Protocol):
    """Where API keys are kept (hashed)."""

    def add_key(self, entry: ApiKeyEntry) -> None:
        """Store a new key; raises :class:`KeyNameTaken` when a key of that name exists."""
        ...

    def find_key(self, key_id: str) -> ApiKeyEntry | None:
        """The key with this public id, or ``None``."""
        ...


@dataclass(frozen=True, slots=True)
class CdsFeedbackEntry:
    """What a CDS Hooks client said a user did with one card (CDS Hooks 2.0.1 feedback), as stored.

    ``accepted_suggestions_json`` is the JSON array of the accepted suggestions' uuids (``[]`` for an
    overridden card); ``override_reason_json`` the JSON object of the override reason as the client
    sent it (its ``reason`` Coding and ``userComment``), or ``None``.
    """

    id: str
    received_at: datetime
    service_id: str
    issuer: str
    card_uuid: str
    outcome: str
    outcome_timestamp: datetime
    accepted_suggestions_json: str
    override_reason_json: str | None


class CdsTokenRepository(Protocol):
    """The ids of the CDS Hooks clients' tokens already used, so that none is accepted twice."""

    def claim_token_id(self, token_hash: str, expires_at: datetime, now: datetime) -> bool:
        """Record a token's id as used until ``expires_at``; ``False`` when it was recorded already.

        Two calls with the same ``token_hash`` at once: one gets ``True``, the other ``False``. Ids of
        tokens that expired before ``now`` may be forgotten (such a token is refused as expired).
        """
        ...


class CdsFeedbackRepository(Protocol):
    """Where the CDS Hooks clients' feedback on cards is kept."""

    def add_cds_feedback(self, entries: list[CdsFeedbackEntry]) -> None:
        """Store every entry, in one transaction."""
        ...

    def cds_feedback_for_card(self, card_uuid: str) -> list[CdsFeedbackEntry]:
        """The feedback stored for one card, in the order it was received."""
        ...
