"""Audit records name the case and assessment by the sha256 of their texts (record format 2).

New records keep the texts once, with the stored assessment, and hold their hashes; records written
before keep their texts (format 1) and verify as before. The assessment a record names is no longer a
foreign key (verification checks it, and a retention purge may remove the assessment, not the record).

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from vertaid.store.migrations._append_only import refuse_changes

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | None = None
depends_on: str | None = None

_FOREIGN_KEY = "fk_audit_records_assessment_id_assessments"


def upgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    # SQLite alters a table by copying it into a new one: the old one's triggers go with it, and are made
    # again below. Dropping it fires no row trigger (SQLite's implicit DELETE of DROP TABLE fires none).
    with op.batch_alter_table("audit_records", recreate="always" if sqlite else "never") as table:
        table.add_column(sa.Column("case_sha256", sa.String(64), nullable=True))
        table.add_column(sa.Column("assessment_sha256", sa.String(64), nullable=True))
        table.alter_column("case_json", existing_type=sa.Text(), nullable=True)
        table.alter_column("assessment_json", existing_type=sa.Text(), nullable=True)
        table.drop_constraint(_FOREIGN_KEY, type_="foreignkey")
    if sqlite:
        refuse_changes("audit_records")


def downgrade() -> None:
    bind = op.get_bind()
    hashed = bind.execute(sa.text("SELECT count(*) FROM audit_records WHERE case_json IS NULL")).scalar()
    if hashed:
        raise RuntimeError(
            f"{hashed} audit records name their texts by hash (format 2): revision 0002 cannot hold them"
        )
    sqlite = bind.dialect.name == "sqlite"
    with op.batch_alter_table("audit_records", recreate="always" if sqlite else "never") as table:
        table.create_foreign_key(_FOREIGN_KEY, "assessments", ["assessment_id"], ["id"], ondelete="RESTRICT")
        table.alter_column("assessment_json", existing_type=sa.Text(), nullable=False)
        table.alter_column("case_json", existing_type=sa.Text(), nullable=False)
        table.drop_column("assessment_sha256")
        table.drop_column("case_sha256")
    if sqlite:
        refuse_changes("audit_records")
