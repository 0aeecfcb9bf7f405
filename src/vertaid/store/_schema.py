"""The store's tables as typed ORM models. Migrations (``migrations/versions``) create them; a test
checks that the migrated database and these models agree."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Final

from sqlalchemy import BigInteger, DateTime, Dialect, ForeignKey, Index, MetaData, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

__all__ = [
    "ApiKeyRow",
    "AssessmentRow",
    "AuditRecordRow",
    "Base",
    "CdsFeedbackRow",
    "CdsTokenIdRow",
    "PurgedAssessmentRow",
    "UtcDateTime",
]

NAMING_CONVENTION: Final = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UtcDateTime(TypeDecorator[datetime]):
    """A moment in UTC, timezone-aware in Python on every database.

    SQLite keeps no offset (its text is read back naive), so every moment is stored as UTC and read back
    as UTC; PostgreSQL's ``timestamptz`` answers in the session's zone and is converted back to UTC.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("a stored time must be timezone-aware")
        moment = value.astimezone(UTC)
        return moment.replace(tzinfo=None) if dialect.name == "sqlite" else moment

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    """The store's tables."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class AssessmentRow(Base):
    """A stored assessment (never changed; deleted only by a retention purge, which first names it in
    ``purged_assessments``: triggers refuse anything else)."""

    __tablename__ = "assessments"
    __table_args__ = (Index("ix_assessments_created_at", "created_at"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    key_name: Mapped[str | None] = mapped_column(String(100))
    knowledge_digest: Mapped[str] = mapped_column(String(64))
    case_json: Mapped[str] = mapped_column(Text)
    assessment_json: Mapped[str] = mapped_column(Text)


class AuditRecordRow(Base):
    """One record of the hash-chained, append-only audit trail (triggers refuse UPDATE and DELETE).

    A record names its case and assessment by the sha256 of their texts (format 2); records of format 1
    hold the texts instead and no hashes. The assessment it names is not a foreign key: verification
    checks that it is stored, and a retention purge may remove it while the record stays.

    A purge's record (``vertaid.purge/1``) names no assessment and no pack: it holds the purge's time
    bound, how many assessments it removed, the sha256 of their ids, and who purged.
    """

    __tablename__ = "audit_records"

    sequence: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    assessment_id: Mapped[str | None] = mapped_column(String(32), unique=True)
    recorded_at: Mapped[datetime] = mapped_column(UtcDateTime)
    key_name: Mapped[str | None] = mapped_column(String(100))
    knowledge_digest: Mapped[str | None] = mapped_column(String(64))
    case_sha256: Mapped[str | None] = mapped_column(String(64))
    assessment_sha256: Mapped[str | None] = mapped_column(String(64))
    case_json: Mapped[str | None] = mapped_column(Text)
    assessment_json: Mapped[str | None] = mapped_column(Text)
    # Unique: two records chained to the same predecessor would be a fork, whatever the locking did.
    previous_hash: Mapped[str] = mapped_column(String(64), unique=True)
    record_hash: Mapped[str] = mapped_column(String(64), unique=True)
    purged_before: Mapped[datetime | None] = mapped_column(UtcDateTime)
    purged_count: Mapped[int | None] = mapped_column(BigInteger)
    purged_ids_sha256: Mapped[str | None] = mapped_column(String(64))
    purged_by: Mapped[str | None] = mapped_column(String(100))


class PurgedAssessmentRow(Base):
    """A stored assessment removed by a retention purge: its id and the purge record's sequence number
    (append-only; the trigger on ``assessments`` lets exactly these rows be deleted)."""

    __tablename__ = "purged_assessments"
    __table_args__ = (Index("ix_purged_assessments_purge_sequence", "purge_sequence"),)

    assessment_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    purge_sequence: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("audit_records.sequence", ondelete="RESTRICT")
    )


class ApiKeyRow(Base):
    """An API key: its public id, its name and the sha256 of its secret."""

    __tablename__ = "api_keys"

    key_id: Mapped[str] = mapped_column(String(16), primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    secret_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)


class CdsTokenIdRow(Base):
    """A CDS Hooks client's token already accepted: the sha256 of its issuer and ``jti``, kept until the
    token expires, so that it is never accepted again."""

    __tablename__ = "cds_token_ids"
    __table_args__ = (Index("ix_cds_token_ids_expires_at", "expires_at"),)

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime)


class CdsFeedbackRow(Base):
    """What a CDS Hooks client said a user did with one card (accepted a suggestion, or overrode it)."""

    __tablename__ = "cds_feedback"
    __table_args__ = (Index("ix_cds_feedback_card_uuid", "card_uuid"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    received_at: Mapped[datetime] = mapped_column(UtcDateTime)
    service_id: Mapped[str] = mapped_column(String(100))
    issuer: Mapped[str] = mapped_column(String(255))
    card_uuid: Mapped[str] = mapped_column(String(200))
    outcome: Mapped[str] = mapped_column(String(16))
    outcome_timestamp: Mapped[datetime] = mapped_column(UtcDateTime)
    accepted_suggestions_json: Mapped[str] = mapped_column(Text)
    override_reason_json: Mapped[str | None] = mapped_column(Text)
