"""The database engine and the one way to get a session.

The edge owns the transaction: `session_scope()` (used by the request dependency and the task
wrapper) commits once at the end or rolls back. Services only `flush()`.
"""

from __future__ import annotations

import enum
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import (
    BigInteger,
    Connection,
    DateTime,
    Dialect,
    Engine,
    Enum,
    Integer,
    MetaData,
    TypeDecorator,
    create_engine,
    event,
)
from sqlalchemy.exc import DisconnectionError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker

from core.settings import get_settings

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp stored in UTC and always read back timezone-aware (SQLite drops the zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime: pass a timezone-aware value")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


_engine: Engine | None = None
_session_factory: sessionmaker[Session] | None = None


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # WAL lets the API read while the embedded worker writes; the timeout waits out a writer
    # instead of failing with "database is locked".
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def make_engine(url: str) -> Engine:
    """A configured engine for `url` (SQLite gets the pragmas the embedded mode needs)."""
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    # A pool at least as large as the requests one process serves at once: a smaller pool keeps
    # opening and closing connections under load (seen in `make bench`).
    engine = create_engine(url, pool_size=20, max_overflow=20)
    _ping_after_idle(engine)
    return engine


# The database cannot be reached (restarting, failing over, out of connections): what was being
# done did not happen, and doing it again in a moment will work. A request answers 503
# (core/http.py); a task is retried (core/celery_app.py).
DATABASE_UNAVAILABLE_ERRORS = (OperationalError, InterfaceError, PoolTimeout)


# A pooled connection that sat unused this long is pinged before use (it may have been cut by a
# database restart or a firewall meanwhile), and replaced if it does not answer. SQLAlchemy's
# pool_pre_ping pings at every checkout: a round trip that was a tenth of a ticket creation and
# two of a chat turn's eight (bench/). A connection used moments ago is trusted; if the database
# went away in between, that one statement fails, SQLAlchemy sees the disconnect and replaces
# every connection of the pool.
PING_AFTER_IDLE_SECONDS = 10.0


def _ping_after_idle(engine: Engine) -> None:
    @event.listens_for(engine, "checkin")
    def _returned(_dbapi_connection: Any, record: Any) -> None:
        record.info["returned_at"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _checked_out(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        returned_at = record.info.get("returned_at")
        if returned_at is None or time.monotonic() - returned_at < PING_AFTER_IDLE_SECONDS:
            return  # new, or used moments ago
        try:
            engine.dialect.do_ping(dbapi_connection)
        except Exception as exc:
            # The pool discards this connection and checks out another one (three tries).
            raise DisconnectionError("a pooled connection did not answer") from exc


def get_engine() -> Engine:
    """The process's engine, created on first use (never at import)."""
    global _engine
    if _engine is None:
        _engine = make_engine(get_settings().database_url)
    return _engine


def get_session_factory() -> sessionmaker[Session]:
    global _session_factory
    if _session_factory is None:
        _session_factory = sessionmaker(bind=get_engine(), expire_on_commit=False)
    return _session_factory


def dispose_engine() -> None:
    """Forget the engines (after a fork, or when settings change in tests)."""
    global _engine, _session_factory, _relaxed_engine
    for engine in (_engine, _relaxed_engine):
        if engine is not None:
            engine.dispose()
    _engine = _relaxed_engine = None
    _session_factory = None


_relaxed_engine: Engine | None = None


@contextmanager
def single_statement() -> Iterator[Connection]:
    """A connection on which each statement is its own transaction (autocommit): one round
    trip, where a transaction takes three (BEGIN, the statement, COMMIT or ROLLBACK). For
    reads, and for writes that are one atomic statement."""
    with get_engine().connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        yield connection


@contextmanager
def relaxed_transaction() -> Iterator[Connection]:
    """One statement of bookkeeping whose loss in a database crash is harmless (a lease that
    expires anyway, an attempt counter): on PostgreSQL it runs on its own (autocommit) on a
    connection whose commits do not wait for the disk. That is one round trip instead of four,
    and no fsync, which is most of the cost of a small write. Never for data a person gave us."""
    global _relaxed_engine
    engine = get_engine()
    if engine.dialect.name != "postgresql":
        with engine.begin() as connection:
            yield connection
        return
    if _relaxed_engine is None:
        _relaxed_engine = create_engine(
            get_settings().database_url,
            pool_size=5,
            max_overflow=10,
            connect_args={"options": "-c synchronous_commit=off"},
            isolation_level="AUTOCOMMIT",
        )
        _ping_after_idle(_relaxed_engine)
    with _relaxed_engine.connect() as connection:
        yield connection


@contextmanager
def session_scope() -> Iterator[Session]:
    """A session whose work is committed once at the end, or rolled back on any error."""
    session = get_session_factory()()
    try:
        yield session
    except BaseException:
        end_session(session, commit=False)
        raise
    end_session(session, commit=True)


def end_session(session: Session, *, commit: bool) -> None:
    """Commit or roll back, then close: how every session ends (see session_scope)."""
    try:
        if commit:
            session.commit()
        else:
            session.rollback()
    finally:
        session.close()


def utcnow() -> datetime:
    return datetime.now(UTC)


# SQLite auto-increments only an INTEGER PRIMARY KEY; Postgres gets BIGINT for big tables.
BigId = BigInteger().with_variant(Integer(), "sqlite")


def enum_column(cls: type[enum.Enum]) -> Enum:
    """A Python enum stored as its values in a VARCHAR (no database enum type to migrate)."""
    return Enum(
        cls,
        native_enum=False,
        length=20,
        values_callable=lambda members: [m.value for m in members],
        validate_strings=True,
    )
