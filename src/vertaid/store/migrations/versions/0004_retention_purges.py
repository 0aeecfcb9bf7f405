"""Retention purges: a purge record in the audit trail, the purged assessments' ids, and a way past the
append-only trigger for exactly those assessments.

A purge appends an audit record of its own (format ``vertaid.purge/1``: no assessment, but the time bound,
how many, the sha256 of their ids and who purged), writes each purged assessment's id to
``purged_assessments`` with the purge record's sequence number, and then deletes those assessments. The
trigger on ``assessments`` still refuses every UPDATE, and refuses a DELETE unless the row's id is in
``purged_assessments`` (itself append-only); ``vertaid audit verify`` checks every purged id against the
purge record that names it.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from vertaid.store.migrations._append_only import refuse_changes

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | None = None
depends_on: str | None = None

_POSTGRESQL_PURGED_ONLY = """
CREATE FUNCTION vertaid_refuse_unpurged_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM purged_assessments WHERE assessment_id = OLD.id) THEN
        RAISE EXCEPTION 'vertaid: assessments rows are append-only; DELETE refused (not purged)'
            USING ERRCODE = 'restrict_violation';
    END IF;
    RETURN OLD;
END
$$
"""

_SQLITE_PURGED_ONLY = """
CREATE TRIGGER assessments_no_delete BEFORE DELETE ON assessments
WHEN NOT EXISTS (SELECT 1 FROM purged_assessments WHERE assessment_id = OLD.id)
BEGIN SELECT RAISE(ABORT, 'vertaid: assessments rows are append-only; DELETE refused (not purged)'); END
"""


def _purge_columns() -> list[sa.Column[object]]:
    return [
        sa.Column("purged_before", sa.DateTime(timezone=True), nullable=True),
        sa.Column("purged_count", sa.BigInteger(), nullable=True),
        sa.Column("purged_ids_sha256", sa.String(64), nullable=True),
        sa.Column("purged_by", sa.String(100), nullable=True),
    ]


def upgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    # SQLite alters a table by copying it: its triggers are made again below (see revision 0003).
    with op.batch_alter_table("audit_records", recreate="always" if sqlite else "never") as table:
        for column in _purge_columns():
            table.add_column(column)
        # A purge record names no assessment and no knowledge pack.
        table.alter_column("assessment_id", existing_type=sa.String(32), nullable=True)
        table.alter_column("knowledge_digest", existing_type=sa.String(64), nullable=True)
    if sqlite:
        refuse_changes("audit_records")
    op.create_table(
        "purged_assessments",
        sa.Column("assessment_id", sa.String(32), nullable=False),
        sa.Column("purge_sequence", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("assessment_id", name="pk_purged_assessments"),
        sa.ForeignKeyConstraint(
            ["purge_sequence"],
            ["audit_records.sequence"],
            name="fk_purged_assessments_purge_sequence_audit_records",
            ondelete="RESTRICT",
        ),
    )
    op.create_index("ix_purged_assessments_purge_sequence", "purged_assessments", ["purge_sequence"])
    refuse_changes("purged_assessments")
    # A purge picks the assessments made before a time.
    op.create_index("ix_assessments_created_at", "assessments", ["created_at"])
    if sqlite:
        op.execute("DROP TRIGGER assessments_no_delete")
        op.execute(_SQLITE_PURGED_ONLY)
    else:
        op.execute("DROP TRIGGER assessments_append_only ON assessments")
        op.execute(
            "CREATE TRIGGER assessments_append_only BEFORE UPDATE ON assessments "
            "FOR EACH ROW EXECUTE FUNCTION vertaid_refuse_change()"
        )
        op.execute(_POSTGRESQL_PURGED_ONLY)
        op.execute(
            "CREATE TRIGGER assessments_delete_purged_only BEFORE DELETE ON assessments "
            "FOR EACH ROW EXECUTE FUNCTION vertaid_refuse_unpurged_delete()"
        )


def downgrade() -> None:
    bind = op.get_bind()
    purges = bind.execute(sa.text("SELECT count(*) FROM audit_records WHERE assessment_id IS NULL")).scalar()
    if purges:
        raise RuntimeError(f"{purges} purge records are in the audit trail: revision 0003 cannot hold them")
    sqlite = bind.dialect.name == "sqlite"
    if sqlite:
        op.execute("DROP TRIGGER assessments_no_delete")
        op.execute(
            "CREATE TRIGGER assessments_no_delete BEFORE DELETE ON assessments "
            "BEGIN SELECT RAISE(ABORT, 'vertaid: assessments rows are append-only; DELETE refused'); END"
        )
    else:
        op.execute("DROP TRIGGER assessments_delete_purged_only ON assessments")
        op.execute("DROP FUNCTION vertaid_refuse_unpurged_delete()")
        op.execute("DROP TRIGGER assessments_append_only ON assessments")
        op.execute(
            "CREATE TRIGGER assessments_append_only BEFORE UPDATE OR DELETE ON assessments "
            "FOR EACH ROW EXECUTE FUNCTION vertaid_refuse_change()"
        )
    op.drop_index("ix_assessments_created_at", "assessments")
    op.drop_table("purged_assessments")  # its triggers go with it
    with op.batch_alter_table("audit_records", recreate="always" if sqlite else "never") as table:
        table.alter_column("knowledge_digest", existing_type=sa.String(64), nullable=False)
        table.alter_column("assessment_id", existing_type=sa.String(32), nullable=False)
        for column in _purge_columns():
            table.drop_column(column.name)
    if sqlite:
        refuse_changes("audit_records")
