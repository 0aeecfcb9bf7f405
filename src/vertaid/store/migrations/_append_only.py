"""The triggers that keep a table append-only, shared by the revisions that create or rebuild one."""

from __future__ import annotations

from typing import Final

from alembic import op

POSTGRESQL_REFUSAL: Final = """
CREATE FUNCTION vertaid_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'vertaid: % rows are append-only; % refused', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'restrict_violation';
END
$$
"""
"""The function the PostgreSQL triggers call (created once, by the first revision)."""


def refuse_changes(table: str) -> None:
    """Make ``table``'s rows refuse UPDATE and DELETE (and TRUNCATE of the table, on PostgreSQL)."""
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION vertaid_refuse_change()"
        )
        op.execute(
            f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
            "FOR EACH STATEMENT EXECUTE FUNCTION vertaid_refuse_change()"
        )
    else:
        for action in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER {table}_no_{action.lower()} BEFORE {action} ON {table} "
                f"BEGIN SELECT RAISE(ABORT, 'vertaid: {table} rows are append-only; {action} refused'); END"
            )
