"""Fixtures of the store suite: a fresh database per test, on SQLite and on PostgreSQL.

SQLite is a file in the test's ``tmp_path``. PostgreSQL is the server at 127.0.0.1:5432 (trust auth,
database ``test``, user ``postgres`` or ``root``); each test gets its own schema, named after this
process, through the connection's ``search_path``, and the schema is dropped afterwards. The PostgreSQL
variant is skipped, with the reason shown, only when no server answers on that port.
"""

from __future__ import annotations

import json
import os
import socket
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import psycopg
import pytest
from sqlalchemy import create_engine, text

from vertaid.store import Store, open_store

POSTGRESQL_HOST: Final = "127.0.0.1"
POSTGRESQL_PORT: Final = 5432
POSTGRESQL_DATABASE: Final = "test"
POSTGRESQL_USERS: Final = ("postgres", "root")

VIGNETTES: Final = Path(__file__).parent.parent / "vignettes"


def vignette_case(name: str) -> dict[str, Any]:
    """The case of a public vignette in tests/vignettes."""
    case: dict[str, Any] = json.loads((VIGNETTES / name).read_text(encoding="utf-8"))["case"]
    return case


@dataclass(frozen=True)
class Database:
    """A test's own empty database: its URL and how to reach it behind the store's back."""

    dialect: str
    url: str
    schema: str | None = None  # PostgreSQL: the test's own schema

    def rows(self, statement: str, **parameters: object) -> list[tuple[Any, ...]]:
        """Run one SQL statement on a connection of its own and commit; the rows it returns."""
        engine = create_engine(self.url.replace("postgresql://", "postgresql+psycopg://", 1))
        try:
            with engine.begin() as connection:
                result = connection.execute(text(statement), parameters)
                return [tuple(row) for row in result] if result.returns_rows else []
        finally:
            engine.dispose()

    def tamper(self, table: str, statement: str, **parameters: object) -> None:
        """Run ``statement`` with ``table``'s append-only triggers out of the way, as an intruder would."""
        engine = create_engine(self.url.replace("postgresql://", "postgresql+psycopg://", 1))
        try:
            with engine.begin() as connection:
                if self.dialect == "postgresql":
                    connection.execute(text(f"ALTER TABLE {table} DISABLE TRIGGER USER"))
                else:
                    for action in ("update", "delete"):
                        connection.execute(text(f"DROP TRIGGER IF EXISTS {table}_no_{action}"))
                connection.execute(text(statement), parameters)
                if self.dialect == "postgresql":
                    connection.execute(text(f"ALTER TABLE {table} ENABLE TRIGGER USER"))
        finally:
            engine.dispose()


def _postgresql_user() -> str:
    """The first of the usual users the server lets in; skips when no server answers at all."""
    try:
        socket.create_connection((POSTGRESQL_HOST, POSTGRESQL_PORT), timeout=2).close()
    except OSError as error:
        pytest.skip(f"no PostgreSQL server answers at {POSTGRESQL_HOST}:{POSTGRESQL_PORT} ({error})")
    refusals = []
    for user in POSTGRESQL_USERS:
        try:
            psycopg.connect(
                host=POSTGRESQL_HOST,
                port=POSTGRESQL_PORT,
                dbname=POSTGRESQL_DATABASE,
                user=user,
                connect_timeout=5,
            ).close()
        except psycopg.OperationalError as error:
            refusals.append(f"{user}: {str(error).strip()}")
        else:
            return user
    pytest.fail("the PostgreSQL server answers but lets none of the test users in: " + "; ".join(refusals))


@pytest.fixture(scope="session")
def postgresql_user() -> str:
    """The user the PostgreSQL variant connects as (found once per run)."""
    return _postgresql_user()


def admin_connection(user: str) -> psycopg.Connection[Any]:
    """A connection to the test database that commits each statement, for setting up and tearing down."""
    return psycopg.connect(
        host=POSTGRESQL_HOST,
        port=POSTGRESQL_PORT,
        dbname=POSTGRESQL_DATABASE,
        user=user,
        autocommit=True,
        connect_timeout=5,
    )


@contextmanager
def _postgresql_schema(user: str) -> Iterator[Database]:
    schema = f"vertaid_test_{os.getpid()}_{uuid.uuid4().hex[:12]}"
    with admin_connection(user) as admin:
        admin.execute(f'CREATE SCHEMA "{schema}"')
    try:
        yield Database(
            "postgresql",
            f"postgresql://{user}@{POSTGRESQL_HOST}:{POSTGRESQL_PORT}/{POSTGRESQL_DATABASE}"
            f"?options=-csearch_path%3D{schema}",
            schema,
        )
    finally:
        with admin_connection(user) as admin:
            admin.execute("SET lock_timeout = '20s'")  # a test that left a transaction open fails here
            admin.execute(f'DROP SCHEMA "{schema}" CASCADE')


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    """A fresh, empty database for one test, on each dialect in turn."""
    if request.param == "sqlite":
        yield Database("sqlite", f"sqlite:///{tmp_path / 'vertaid.db'}")
        return
    with _postgresql_schema(request.getfixturevalue("postgresql_user")) as database:
        yield database


@pytest.fixture
def postgresql_database(postgresql_user: str) -> Iterator[Database]:
    """A fresh, empty PostgreSQL schema, for what only PostgreSQL has."""
    with _postgresql_schema(postgresql_user) as database:
        yield database


@pytest.fixture
def store(database: Database) -> Iterator[Store]:
    """The store opened on the test's own database, closed afterwards."""
    opened = open_store(database.url)
    try:
        yield opened
    finally:
        opened.dispose()


def shipped_migrations() -> str:
    """Where the store's migrations are shipped: Alembic's script location for the tests that migrate
    a database to a given revision or ask which revision is the newest."""
    from importlib.resources import files

    return str(files("vertaid.store") / "migrations")
