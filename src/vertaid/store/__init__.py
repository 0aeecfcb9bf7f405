"""The store: stored assessments, their hash-chained audit trail and API keys (SQLAlchemy 2).

    >>> from vertaid.store import open_store
    >>> store = open_store()        # VERTAID_DATABASE_URL, else sqlite:///./var/vertaid.db
    >>> store.check()               # StoreUnavailable unless the database answers

SQLite (WAL, foreign keys on) by default, PostgreSQL through psycopg 3; Alembic migrations ship inside
this package and run when the store is opened. The use cases (``vertaid.services.records``, ``.keys``,
``.audit``) take a :class:`Store`. See docs/store.md.
"""

from vertaid.services.ports import StoreUnavailable
from vertaid.store._store import DEFAULT_DATABASE_URL, Store, database_url, open_store

__all__ = ["DEFAULT_DATABASE_URL", "Store", "StoreUnavailable", "database_url", "open_store"]
