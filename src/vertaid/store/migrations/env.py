"""Alembic's environment: migrates on the connection that ``vertaid.store`` passes in.

``open_store`` opens the connection, takes the migration lock and runs ``upgrade head`` in one
transaction, so that two processes starting at once do not both create the tables.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Connection

from vertaid.store._schema import Base


def _run_migrations() -> None:
    connection = context.config.attributes.get("connection")
    if not isinstance(connection, Connection):
        raise RuntimeError("the store is migrated by vertaid.store.open_store, which passes a connection")
    # SQLite's DDL is transactional when, as here, the transaction is begun explicitly.
    context.configure(connection=connection, target_metadata=Base.metadata, transactional_ddl=True)
    with context.begin_transaction():
        context.run_migrations()


_run_migrations()
