"""Assessments, the append-only audit trail and API keys.

Revision ID: 0001
Revises:
Create Date: 2025-01-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from vertaid.store.migrations._append_only import POSTGRESQL_REFUSAL, refuse_changes

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None

_APPEND_ONLY = ("assessments", "audit_records")
"""Tables whose rows are never changed or deleted: a stored assessment is a record of what was advised."""


def _what_was_assessed() -> list[sa.Column[object]]:
    """The columns a stored assessment and its audit record share: by whom, with what, what in, what out."""
    return [
        sa.Column("key_name", sa.String(100), nullable=True),
        sa.Column("knowledge_digest", sa.String(64), nullable=False),
        sa.Column("case_json", sa.Text(), nullable=False),
        sa.Column("assessment_json", sa.Text(), nullable=False),
    ]


def upgrade() -> None:
    op.create_table(
        "assessments",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        *_what_was_assessed(),
        sa.PrimaryKeyConstraint("id", name="pk_assessments"),
    )
    op.create_table(
        "audit_records",
        sa.Column("sequence", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("assessment_id", sa.String(32), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        *_what_was_assessed(),
        sa.Column("previous_hash", sa.String(64), nullable=False),
        sa.Column("record_hash", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("sequence", name="pk_audit_records"),
        sa.ForeignKeyConstraint(
            ["assessment_id"],
            ["assessments.id"],
            name="fk_audit_records_assessment_id_assessments",
            ondelete="RESTRICT",
        ),
        sa.UniqueConstraint("assessment_id", name="uq_audit_records_assessment_id"),
        sa.UniqueConstraint("previous_hash", name="uq_audit_records_previous_hash"),
        sa.UniqueConstraint("record_hash", name="uq_audit_records_record_hash"),
    )
    op.create_table(
        "api_keys",
        sa.Column("key_id", sa.String(16), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("secret_hash", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key_id", name="pk_api_keys"),
        sa.UniqueConstraint("name", name="uq_api_keys_name"),
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute(POSTGRESQL_REFUSAL)
    for table in _APPEND_ONLY:
        refuse_changes(table)


def downgrade() -> None:
    # Dropping the tables drops their triggers.
    op.drop_table("api_keys")
    op.drop_table("audit_records")
    op.drop_table("assessments")
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION vertaid_refuse_change()")
