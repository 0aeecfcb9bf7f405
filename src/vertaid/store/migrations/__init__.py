"""Alembic migrations of the store, run by ``vertaid.store.open_store`` (see docs/store.md)."""
