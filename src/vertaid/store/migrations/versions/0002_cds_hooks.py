"""CDS Hooks: the ids of the clients' tokens already accepted, and the clients' feedback on cards.

Revision ID: 0002
Revises: 0001
Create Date: 2025-02-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "cds_token_ids",
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("token_hash", name="pk_cds_token_ids"),
    )
    # Expired ids are deleted by their expiry time.
    op.create_index("ix_cds_token_ids_expires_at", "cds_token_ids", ["expires_at"])
    op.create_table(
        "cds_feedback",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("service_id", sa.String(100), nullable=False),
        sa.Column("issuer", sa.String(255), nullable=False),
        sa.Column("card_uuid", sa.String(200), nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("outcome_timestamp", sa.DateTime(timezone=True), nullable=False),
        sa.Column("accepted_suggestions_json", sa.Text(), nullable=False),
        sa.Column("override_reason_json", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_cds_feedback"),
    )
    op.create_index("ix_cds_feedback_card_uuid", "cds_feedback", ["card_uuid"])


def downgrade() -> None:
    op.drop_table("cds_feedback")
    op.drop_table("cds_token_ids")
