"""The SQLAlchemy store: assessments, the audit trail and API keys on SQLite or PostgreSQL."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import fields
from datetime import datetime
from importlib.resources import files
from pathlib import Path
from typing import Any, Final, cast

from sqlalchemy import (
    BigInteger,
    Connection,
    Engine,
    Table,
    create_engine,
    delete,
    event,
    func,
    insert,
    literal,
    select,
    text,
)
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, IntegrityError, NoSuchModuleError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.orm import sessionmaker
from sqlalchemy.pool import StaticPool

if sys.platform != "win32":
    import fcntl
else:  # pragma: no cover - Windows has no flock; SQLite's own lock still serialises appends
    fcntl = None

from vertaid.services.ports import (
    ApiKeyEntry,
    AssessmentAppend,
    AssessmentEntry,
    AuditedAssessment,
    AuditEntry,
    CdsFeedbackEntry,
    ChainHead,
    KeyNameTaken,
    PurgeEntry,
    PurgeSeal,
    StoreUnavailable,
)
from vertaid.store._schema import (
    ApiKeyRow,
    AssessmentRow,
    AuditRecordRow,
    CdsFeedbackRow,
    CdsTokenIdRow,
    PurgedAssessmentRow,
)

__all__ = ["DEFAULT_DATABASE_URL", "Store", "database_url", "open_store"]

DEFAULT_DATABASE_URL: Final = "sqlite:///./var/vertaid.db"
"""The store when ``VERTAID_DATABASE_URL`` is not set: a file in ./var, created on first use."""

_BEGIN: Final = "vertaid_begin"
"""The execution option that tells SQLite how to begin a transaction (see ``_sqlite_engine``)."""

SQLITE_BUSY_SECONDS: Final = 15.0
"""How long a SQLite writer waits for another writer's transaction before the store is called busy."""

SQLITE_PAGE_BYTES: Final = 16384
"""The page size of a new SQLite file (see ``_sqlite_engine``)."""

POSTGRESQL_CONNECT_SECONDS: Final = 5
"""How long to wait for a PostgreSQL server that does not answer (a wrong host must not hang a start)."""

_MIGRATION_LOCK: Final = 0x7665727461696431
"""PostgreSQL advisory lock held while migrating ("vertaid1"), so that concurrent starts take turns."""

APPEND_TURNS_SUFFIX: Final = "-appending"
"""Next to an SQLite file, the file whose lock the processes appending to it (or migrating it) take in
turn (``flock``)."""

AUDIT_ROWS_PER_READ: Final = 200
"""Audit records read from the database at a time while verifying: the trail is never held whole."""

EXPORT_ROWS_PER_READ: Final = 50
"""Stored assessments read at a time while exporting (two texts of about 33 KB each)."""


def database_url(url: str | None = None) -> str:
    """The store's URL: ``url``, else ``VERTAID_DATABASE_URL``, else :data:`DEFAULT_DATABASE_URL`."""
    return url or os.environ.get("VERTAID_DATABASE_URL") or DEFAULT_DATABASE_URL


def _parsed(url: str) -> URL:
    try:
        parsed = make_url(url)
    except ArgumentError:
        # The URL itself is not repeated: it may hold a password.
        raise StoreUnavailable("the database URL is not an SQLAlchemy URL (dialect+driver://...)") from None
    if parsed.drivername in ("postgresql", "postgres"):
        # psycopg 3 is the PostgreSQL driver vertaid installs; SQLAlchemy's default would be psycopg2.
        parsed = parsed.set(drivername="postgresql+psycopg")
    if parsed.get_backend_name() not in ("sqlite", "postgresql"):
        backend = parsed.get_backend_name()
        raise StoreUnavailable(f"unsupported database {backend!r}: use sqlite or postgresql")
    return parsed


def _one_line(error: BaseException) -> str:
    """The first line of a driver's message, which is where it names the cause."""
    original = error.orig if isinstance(error, DBAPIError) and error.orig is not None else error
    lines = [line.strip() for line in str(original).splitlines() if line.strip()]
    return lines[0] if lines else type(original).__name__


@contextmanager
def _answering(what: str) -> Iterator[None]:
    """Turn a database that does not answer into :class:`StoreUnavailable` naming the cause."""
    try:
        yield
    except DBAPIError as error:
        if isinstance(error, IntegrityError):
            raise
        raise StoreUnavailable(f"{what}: {_one_line(error)}") from error
    except PoolTimeout as error:  # every pooled connection stayed busy
        raise StoreUnavailable(f"{what}: no free database connection ({error})") from error


def _sqlite_file(url: URL) -> Path | None:
    """The file of an SQLite database; ``None`` for one held in memory."""
    database = url.database or ""
    if database in ("", ":memory:") or database.startswith("file::memory:"):
        return None
    return Path(database).expanduser()


def _sqlite_engine(url: URL) -> Engine:
    database = _sqlite_file(url)
    in_memory = database is None
    if database is not None:
        try:
            database.parent.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise StoreUnavailable(f"cannot create the folder for {database}: {error.strerror}") from None
    options: dict[str, Any] = {"connect_args": {"timeout": SQLITE_BUSY_SECONDS}}
    if in_memory:
        options["poolclass"] = StaticPool  # one connection, or each would see its own empty database
    engine = create_engine(url, **options)

    @event.listens_for(engine, "connect")
    def _configure(dbapi_connection: Any, _record: Any) -> None:
        # pysqlite begins transactions late and on its own; the "begin" hook below begins them instead.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys = ON")
        if not in_memory:
            # Set before anything is written, so it takes only on a new file (an existing one keeps its
            # own). An assessment is a 33 KB text: with 16 KiB pages it takes fewer overflow pages and
            # write-ahead-log frames than with SQLite's 4 KiB, and in this project's load test (when the
            # audit record held a second copy) a server took a tenth less CPU a write and served a tenth
            # more writes a second.
            cursor.execute(f"PRAGMA page_size = {SQLITE_PAGE_BYTES}")
            cursor.execute("PRAGMA journal_mode = WAL")
        # FULL: a committed write survives a power cut, not only a crash (the write is acknowledged).
        cursor.execute("PRAGMA synchronous = FULL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(connection: Any) -> None:
        # Writers begin IMMEDIATE: they take SQLite's write lock before reading the chain's head, so
        # appends are serialised; readers begin DEFERRED and never wait for a writer in WAL mode.
        connection.exec_driver_sql(connection.get_execution_options().get(_BEGIN, "BEGIN"))

    return engine


def _for_writing(engine: Engine) -> Engine:
    """The engine whose transactions may write: on SQLite they begin IMMEDIATE (see ``_sqlite_engine``)."""
    if engine.dialect.name != "sqlite":
        return engine
    return engine.execution_options(**{_BEGIN: "BEGIN IMMEDIATE"})


def _postgresql_engine(url: URL) -> Engine:
    connect_args = {} if "connect_timeout" in url.query else {"connect_timeout": POSTGRESQL_CONNECT_SECONDS}
    # READ COMMITTED whatever the server's default: an append reads the chain's head after taking its lock,
    # and only a per-statement snapshot sees the head that the previous append committed.
    engine = create_engine(
        url, pool_pre_ping=True, connect_args=connect_args, isolation_level="READ COMMITTED"
    )

    @event.listens_for(engine, "connect")
    def _configure(dbapi_connection: Any, _record: Any) -> None:
        # An assessment is about 33 KB of JSON, and PostgreSQL compresses text that long. Its default
        # compressor, pglz, spent 1 ms of the server's CPU on each (when each was stored twice, 2 ms a
        # write: more than the web application spent on it); lz4 spends 0.2 ms, and
        # compresses these texts better (to 10 KB; pglz to 13). Used where the server has it (PostgreSQL 14
        # and later, built with lz4, as Debian's is); stored values are read back whichever compressed them.
        # Set outside a transaction, so that no rollback undoes it.
        autocommit, dbapi_connection.autocommit = dbapi_connection.autocommit, True
        try:
            with dbapi_connection.cursor() as cursor:
                cursor.execute(_LZ4_AVAILABLE)
                if cursor.fetchone() is not None:
                    cursor.execute("SET default_toast_compression = lz4")
        finally:
            dbapi_connection.autocommit = autocommit

    return engine


_LZ4_AVAILABLE: Final = (
    "SELECT 1 FROM pg_settings WHERE name = 'default_toast_compression' AND 'lz4' = ANY(enumvals)"
)


class Store:
    """Stored assessments, their audit trail, API keys and what the CDS Hooks service keeps, in one SQL
    database.

    Made by :func:`open_store`. Safe to share between threads: each operation takes its own connection
    from the pool and its own transaction. Implements the protocols of :mod:`vertaid.services.ports`.
    """

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._dialect = engine.dialect.name
        self._appending = _for_writing(engine)
        self._reading = sessionmaker(engine, expire_on_commit=False)
        self._writing = sessionmaker(self._appending, expire_on_commit=False)
        self._turns = _turns_file(engine)

    @property
    def dialect(self) -> str:
        """``sqlite`` or ``postgresql``."""
        return self._dialect

    @property
    def url(self) -> str:
        """The database's URL, with any password hidden."""
        return self._engine.url.render_as_string(hide_password=True)

    def check(self) -> None:
        """Raise :class:`StoreUnavailable`, naming the cause, unless the database answers."""
        with _answering("the store does not answer"), self._engine.connect() as connection:
            connection.execute(select(AuditRecordRow.sequence).limit(1)).all()

    def dispose(self) -> None:
        """Close every pooled connection (the store may still be used: it reconnects)."""
        self._engine.dispose()

    # -- assessments and the audit trail

    def append_assessments(self, appends: Sequence[AssessmentAppend]) -> list[AuditEntry]:
        """Store the entries and their sealed audit records in one transaction, appends taking turns."""
        if not appends:
            return []
        # A Core connection, not a session: this is the busiest path, and the unit of work adds nothing
        # to two multi-row INSERTs.
        with (
            _answering("the assessment was not stored"),
            self._append_turn(),
            self._appending.begin() as connection,
        ):
            self._lock_chain(connection)
            row = connection.execute(_CHAIN_HEAD).first()
            head = None if row is None else ChainHead(row.sequence, row.record_hash)
            records = []
            for append in appends:  # each record chained to the one sealed before it
                records.append(append.seal(head))
                head = ChainHead(records[-1].sequence, records[-1].record_hash)
            # The assessments first: their records refer to them.
            connection.execute(_INSERT_ASSESSMENTS, [_columns(append.entry) for append in appends])
            connection.execute(_INSERT_AUDIT_RECORDS, [_columns(record) for record in records])
        return records

    def _lock_chain(self, connection: Connection) -> None:
        """On PostgreSQL, wait for the chain's lock: appends (and purges) take it in turn."""
        if self._dialect == "postgresql":
            # Concurrent appends to this chain wait here until the one before commits, then read the head
            # it committed (READ COMMITTED takes a new snapshot per statement). An advisory lock keyed by
            # the table's oid needs no privilege beyond SELECT and INSERT, unlike LOCK TABLE, and never
            # blocks readers.
            connection.execute(text("SELECT pg_advisory_xact_lock('audit_records'::regclass::oid::bigint)"))

    @contextmanager
    def _append_turn(self) -> Iterator[None]:
        """On an SQLite file, wait for this append's turn among the processes appending to it.

        SQLite's own lock (``BEGIN IMMEDIATE``) still serialises the appends; this only makes them wait
        without polling. A writer refused SQLite's lock sleeps in its busy handler and retries, with
        pauses growing to 100 ms, while the process holding it commits again and again: two server
        processes appending at once made some writers wait a second. Here a writer blocks on ``flock``
        and wakes as soon as the holder's transaction ends; the kernel drops the lock of a process that
        dies. PostgreSQL's advisory lock already queues its waiters.
        """
        with _taking_turns(self._turns, "the assessment was not stored"):
            yield

    def find_assessment(self, assessment_id: str) -> AssessmentEntry | None:
        """The stored assessment with this id, or ``None``."""
        with _answering("the store does not answer"), self._reading() as session:
            row = session.get(AssessmentRow, assessment_id)
            return None if row is None else _assessment_entry(row)

    def newest_assessments(self, limit: int) -> list[AssessmentEntry]:
        """Up to ``limit`` stored assessments, the most recently appended first."""
        query = (
            select(AssessmentRow)
            .join(AuditRecordRow, AuditRecordRow.assessment_id == AssessmentRow.id)
            .order_by(AuditRecordRow.sequence.desc())
            .limit(limit)
        )
        with _answering("the store does not answer"), self._reading() as session:
            return [_assessment_entry(row) for row in session.scalars(query)]

    def audit_trail(self) -> Iterator[AuditedAssessment | PurgeEntry]:
        """Every audit record in sequence order: an assessment's, with the stored assessment it names and
        the purge that removed it (if one did); or a purge's."""
        # Plain columns, not ORM objects: a long trail streams through without an identity map.
        record_columns = [getattr(AuditRecordRow, field.name) for field in fields(AuditEntry)]
        purge_columns = [getattr(AuditRecordRow, field.name) for field in fields(PurgeEntry)]
        assessment_columns = [getattr(AssessmentRow, field.name) for field in fields(AssessmentEntry)]
        query = (
            select(
                *record_columns,
                *purge_columns,
                *assessment_columns,
                PurgedAssessmentRow.purge_sequence,
                AuditRecordRow.purged_count.is_not(None).label("is_purge"),
            )
            .outerjoin(AssessmentRow, AssessmentRow.id == AuditRecordRow.assessment_id)
            .outerjoin(PurgedAssessmentRow, PurgedAssessmentRow.assessment_id == AuditRecordRow.assessment_id)
            .order_by(AuditRecordRow.sequence)
            .execution_options(yield_per=AUDIT_ROWS_PER_READ)
        )
        purge_at = len(record_columns)
        assessment_at = purge_at + len(purge_columns)
        purged_at = assessment_at + len(assessment_columns)
        with _answering("the audit trail could not be read"), self._reading() as session:
            result = session.execute(query)
            try:
                for row in result:
                    if row.is_purge:
                        yield PurgeEntry(*row[purge_at:assessment_at])
                        continue
                    found = row[assessment_at:purged_at]
                    # The assessment's id is None when the outer join found no assessment.
                    yield AuditedAssessment(
                        AuditEntry(*row[:purge_at]),
                        None if found[0] is None else AssessmentEntry(*found),
                        row[purged_at],
                    )
            finally:
                result.close()  # also when the reader stops early: PostgreSQL reads through a server cursor

    def assessments_made(
        self, *, after: datetime | None = None, before: datetime | None = None
    ) -> Iterator[AssessmentEntry]:
        """The stored assessments made at or after ``after`` and before ``before``, oldest first."""
        columns = [getattr(AssessmentRow, field.name) for field in fields(AssessmentEntry)]
        query = select(*columns).order_by(AssessmentRow.created_at, AssessmentRow.id)
        if after is not None:
            query = query.where(AssessmentRow.created_at >= after)
        if before is not None:
            query = query.where(AssessmentRow.created_at < before)
        with _answering("the stored assessments could not be read"), self._reading() as session:
            result = session.execute(query.execution_options(yield_per=EXPORT_ROWS_PER_READ))
            try:
                for row in result:
                    yield AssessmentEntry(*row)
            finally:
                result.close()  # also when the reader stops early: PostgreSQL reads through a server cursor

    def count_assessments_made(self, *, before: datetime) -> int:
        """How many stored assessments were made before ``before``."""
        query = select(func.count()).select_from(AssessmentRow).where(AssessmentRow.created_at < before)
        with _answering("the store does not answer"), self._reading() as session:
            return int(session.scalar(query) or 0)

    def purge_assessments(self, *, before: datetime, seal: PurgeSeal) -> PurgeEntry | None:
        """Remove the stored assessments made before ``before`` and append the purge's record, all in one
        transaction taken in turn with the appends (see ``RetentionRepository.purge_assessments``)."""
        # The assessments to remove, in the order of their records (which the ids' hash follows).
        chosen = (
            select(AssessmentRow.id)
            .join(AuditRecordRow, AuditRecordRow.assessment_id == AssessmentRow.id)
            .where(AssessmentRow.created_at < before)
        )
        try:
            with (
                _answering("the purge was not made"),
                self._append_turn(),
                self._appending.begin() as connection,
            ):
                self._lock_chain(connection)
                row = connection.execute(_CHAIN_HEAD).first()
                head = None if row is None else ChainHead(row.sequence, row.record_hash)
                ids = connection.execute(
                    chosen.order_by(AuditRecordRow.sequence).execution_options(yield_per=AUDIT_ROWS_PER_READ)
                )
                record = seal(head, (assessment_id for (assessment_id,) in ids))
                ids.close()
                if record.purged_count == 0:
                    return None
                connection.execute(_INSERT_AUDIT_RECORDS, [_columns(record)])
                # Named first: the trigger on assessments lets only named rows be deleted.
                connection.execute(
                    insert(_PURGED).from_select(
                        ["assessment_id", "purge_sequence"],
                        chosen.add_columns(literal(record.sequence, BigInteger)),
                    )
                )
                named_by_it = select(PurgedAssessmentRow.assessment_id).where(
                    PurgedAssessmentRow.purge_sequence == record.sequence
                )
                named = connection.execute(select(func.count()).select_from(named_by_it.subquery())).scalar()
                removed = connection.execute(delete(_ASSESSMENTS).where(_ASSESSMENTS.c.id.in_(named_by_it)))
                if not named == removed.rowcount == record.purged_count:
                    raise _PurgeMismatch(
                        f"{record.purged_count} chosen, {named} named, {removed.rowcount} deleted"
                    )
        except IntegrityError as error:  # e.g. a trigger refused a row: nothing was changed
            raise StoreUnavailable(f"the purge was not made: {_one_line(error)}") from error
        except _PurgeMismatch as error:
            raise StoreUnavailable(f"the purge was not made: {error}") from None
        return record

    def unaudited_assessment_ids(self, limit: int) -> list[str]:
        """Up to ``limit`` ids of stored assessments that no audit record names."""
        query = (
            select(AssessmentRow.id)
            .outerjoin(AuditRecordRow, AuditRecordRow.assessment_id == AssessmentRow.id)
            .where(AuditRecordRow.sequence.is_(None))
            .order_by(AssessmentRow.created_at)
            .limit(limit)
        )
        with _answering("the store does not answer"), self._reading() as session:
            return list(session.scalars(query))

    # -- API keys

    def add_key(self, entry: ApiKeyEntry) -> None:
        """Store a new key; :class:`KeyNameTaken` when a key of that name exists."""
        taken = KeyNameTaken(f"a key named {entry.name!r} exists already; choose another name")
        with _answering("the key was not stored"):
            try:
                with self._writing.begin() as session:
                    if session.scalar(select(ApiKeyRow.key_id).where(ApiKeyRow.name == entry.name)):
                        raise taken
                    session.add(ApiKeyRow(**_columns(entry)))
            except IntegrityError:
                # Another process added the same name between the check and the insert.
                raise taken from None

    def find_key(self, key_id: str) -> ApiKeyEntry | None:
        """The key with this public id, or ``None``."""
        with _answering("the store does not answer"), self._reading() as session:
            row = session.get(ApiKeyRow, key_id)
            if row is None:
                return None
            return ApiKeyEntry(row.key_id, row.name, row.secret_hash, row.created_at)

    # -- CDS Hooks

    def claim_token_id(self, token_hash: str, expires_at: datetime, now: datetime) -> bool:
        """Record a token's id as used until ``expires_at``; ``False`` when it was recorded already.

        Ids of tokens that expired before ``now`` are deleted in the same transaction, so the table
        holds no more than the tokens still valid.
        """
        with _answering("the token id was not recorded"):
            try:
                with self._writing.begin() as session:
                    session.execute(delete(CdsTokenIdRow).where(CdsTokenIdRow.expires_at < now))
                    if session.get(CdsTokenIdRow, token_hash) is not None:
                        return False
                    session.execute(
                        insert(CdsTokenIdRow), [{"token_hash": token_hash, "expires_at": expires_at}]
                    )
            except IntegrityError:
                # The same id recorded by another process between the look-up and the insert: a replay.
                return False
        return True

    def add_cds_feedback(self, entries: list[CdsFeedbackEntry]) -> None:
        """Store every feedback entry, in one transaction."""
        if not entries:
            return
        with _answering("the feedback was not stored"), self._writing.begin() as session:
            session.execute(insert(CdsFeedbackRow), [_columns(entry) for entry in entries])

    def cds_feedback_for_card(self, card_uuid: str) -> list[CdsFeedbackEntry]:
        """The feedback stored for one card, in the order it was received."""
        columns = [getattr(CdsFeedbackRow, field.name) for field in fields(CdsFeedbackEntry)]
        query = (
            select(*columns)
            .where(CdsFeedbackRow.card_uuid == card_uuid)
            .order_by(CdsFeedbackRow.received_at, CdsFeedbackRow.id)
        )
        with _answering("the store does not answer"), self._reading() as session:
            return [CdsFeedbackEntry(*row) for row in session.execute(query)]


# The tables, not the mapped classes: the INSERTs run on a Core connection.
_ASSESSMENTS: Final = cast(Table, AssessmentRow.__table__)
_AUDIT_RECORDS: Final = cast(Table, AuditRecordRow.__table__)
_PURGED: Final = cast(Table, PurgedAssessmentRow.__table__)
# Made once: a statement made afresh is coerced and keyed for SQLAlchemy's cache again at every append.
_INSERT_ASSESSMENTS: Final = insert(_ASSESSMENTS)
_INSERT_AUDIT_RECORDS: Final = insert(_AUDIT_RECORDS)


class _PurgeMismatch(RuntimeError):
    """A purge's statements did not all touch the assessments it chose (its transaction is undone)."""


_CHAIN_HEAD: Final = (
    select(AuditRecordRow.sequence, AuditRecordRow.record_hash)
    .order_by(AuditRecordRow.sequence.desc())
    .limit(1)
)


def _columns(
    entry: AssessmentEntry | AuditEntry | PurgeEntry | ApiKeyEntry | CdsFeedbackEntry,
) -> dict[str, Any]:
    """An entry's fields, which are named as its table's columns."""
    return {field.name: getattr(entry, field.name) for field in fields(entry)}


def _assessment_entry(row: AssessmentRow) -> AssessmentEntry:
    return AssessmentEntry(**{field.name: getattr(row, field.name) for field in fields(AssessmentEntry)})


def _audit_entry(row: AuditRecordRow) -> AuditEntry:
    return AuditEntry(**{field.name: getattr(row, field.name) for field in fields(AuditEntry)})


def _migrate(engine: Engine) -> None:
    """Bring the database to the newest revision, in one transaction that concurrent starts take in turn."""
    from alembic import command
    from alembic.config import Config
    from alembic.util import CommandError

    config = Config()
    config.set_main_option("script_location", str(files("vertaid.store") / "migrations"))
    with _for_writing(engine).connect() as connection, connection.begin():
        if engine.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_xact_lock(:lock)"), {"lock": _MIGRATION_LOCK})
        config.attributes["connection"] = connection
        try:
            command.upgrade(config, "head")
        except CommandError as error:  # e.g. a database migrated by a newer vertaid
            raise StoreUnavailable(f"the database cannot be migrated: {error}") from None


def _turns_file(engine: Engine) -> Path | None:
    """The file whose lock processes writing to an SQLite file take in turn; ``None`` for other stores."""
    database = _sqlite_file(engine.url) if engine.dialect.name == "sqlite" else None
    return None if database is None else database.with_name(database.name + APPEND_TURNS_SUFFIX)


@contextmanager
def _taking_turns(turns_file: Path | None, failure: str) -> Iterator[None]:
    """Hold the lock (``flock``) of ``turns_file`` while the block runs; processes wait their turn.

    ``None`` (not an SQLite file) or a platform without ``flock``: nothing to wait for.
    """
    if turns_file is None or fcntl is None:
        yield
        return
    try:
        turns = os.open(turns_file, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    except OSError as error:
        raise StoreUnavailable(f"{failure}: {turns_file}: {error.strerror}") from None
    try:
        fcntl.flock(turns, fcntl.LOCK_EX)
        yield
    finally:
        os.close(turns)  # releases the lock


def open_store(url: str | None = None) -> Store:
    """Open the store at ``url`` (default: ``VERTAID_DATABASE_URL``, else ``sqlite:///./var/vertaid.db``).

    Creates the SQLite file and its folder when needed and migrates the database to the newest revision.
    ``postgresql://`` URLs use psycopg 3.

    Raises:
        StoreUnavailable: the URL is not usable or the database does not answer; the message is one line.
    """
    parsed = _parsed(database_url(url))
    try:
        if parsed.get_backend_name() == "sqlite":
            engine = _sqlite_engine(parsed)
        else:
            engine = _postgresql_engine(parsed)
    except (NoSuchModuleError, ImportError) as error:
        raise StoreUnavailable(f"no driver for {parsed.drivername}: {error}") from None
    except ArgumentError as error:
        raise StoreUnavailable(f"the database URL is not usable: {_one_line(error)}") from None
    try:
        # Processes opening a new SQLite file at once take turns: switching it to WAL and migrating it
        # need its write lock, which SQLite's busy handler does not always wait for.
        opening = f"cannot open the store at {parsed.render_as_string(hide_password=True)}"
        with _answering(opening), _taking_turns(_turns_file(engine), opening):
            _migrate(engine)
    except BaseException:
        engine.dispose()
        raise
    return Store(engine)
