"""The database under every table family: the engine, transactions, dialect helpers.

Every store method is one short transaction from ``read`` or ``write``. Writers on
SQLite use ``BEGIN IMMEDIATE``, so concurrent processes queue on the busy timeout
instead of failing with "database is locked" when a read-then-write transaction
upgrades its lock. Single-statement reads run without a transaction (in WAL mode each
statement sees one snapshot; skipping BEGIN halves them).

Database errors are translated here, once: cannot open or reach the database is
``StoreUnavailable``; a constraint violation is ``Conflict``; anything else is
``StoreError``. Messages carry the database's reason, never the URL's password.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.dialects import sqlite

from dockyard.core.errors import Conflict, StoreError, StoreUnavailable


def sqlite_url(path: Path) -> str:
    return f"sqlite:///{path}"


def redact_url(url: str) -> str:
    """The database URL without its password, for messages."""
    return sa.make_url(url).render_as_string(hide_password=True)


class Database:
    """One SQLAlchemy engine and the two kinds of transaction the families use."""

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine
        self.url = engine.url.render_as_string(hide_password=True)

    @classmethod
    def connect(cls, url: str) -> Database:
        """The database at ``url`` (nothing is read or written yet)."""
        return cls(_create_engine(url))

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def dispose(self) -> None:
        self.engine.dispose()

    @contextmanager
    def read(self) -> Iterator[sa.Connection]:
        try:
            with self.engine.connect() as conn:
                yield conn
        except sa.exc.OperationalError as exc:
            raise StoreUnavailable(f"store unavailable: {reason(exc)}") from exc
        except sa.exc.SQLAlchemyError as exc:
            raise StoreError(f"store error: {reason(exc)}") from exc

    @contextmanager
    def write(self) -> Iterator[sa.Connection]:
        try:
            with self.engine.connect() as raw:
                conn = raw.execution_options(dockyard_write=True)
                with conn.begin():
                    yield conn
        except sa.exc.IntegrityError as exc:
            raise Conflict(f"conflicting record: {reason(exc)}") from exc
        except sa.exc.OperationalError as exc:
            raise StoreUnavailable(f"store unavailable: {reason(exc)}") from exc
        except sa.exc.SQLAlchemyError as exc:
            raise StoreError(f"store error: {reason(exc)}") from exc

    def insert_ignore(self, table: sa.Table) -> Any:
        """An INSERT that does nothing when the row's key exists (both dialects)."""
        if self.dialect == "postgresql":
            # imported here: loading the PostgreSQL dialect costs every CLI command on SQLite
            from sqlalchemy.dialects import postgresql  # noqa: PLC0415

            return postgresql.insert(table).on_conflict_do_nothing()
        return sqlite.insert(table).on_conflict_do_nothing()

    def insert_if_absent(self, conn: sa.Connection, table: sa.Table, **values: Any) -> bool:
        """INSERT the row unless its key exists; whether it did. (An insert's rowcount
        says nothing on PostgreSQL: -1. The key it returns does.)"""
        query = self.insert_ignore(table).values(**values)
        if not self.engine.dialect.insert_returning:  # SQLite before 3.35: rowcount works
            return conn.execute(query).rowcount == 1
        key = next(iter(table.primary_key.columns))
        return conn.execute(query.returning(key)).first() is not None


def reason(exc: sa.exc.SQLAlchemyError) -> str:
    """The database's own first line about ``exc``, for a message."""
    original = getattr(exc, "orig", None)
    text = str(original if original is not None else exc)
    return text.strip().splitlines()[0][:300] if text.strip() else type(exc).__name__


def _create_engine(url: str) -> sa.Engine:
    try:
        parsed = sa.make_url(url)
    except sa.exc.ArgumentError as exc:
        raise StoreError(f"invalid database URL {url!r}: {exc}") from exc
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            _private_file(Path(parsed.database))
        engine = sa.create_engine(parsed, connect_args={"timeout": 30})
        event.listen(engine, "connect", _sqlite_connect)
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    try:
        return sa.create_engine(parsed, pool_pre_ping=True)
    except (ImportError, sa.exc.NoSuchModuleError) as exc:
        raise StoreError(
            f"no driver for {parsed.get_backend_name()}: install dockyard[postgres]"
        ) from exc


def _private_file(path: Path) -> None:
    """The database file, and the directories dockyard makes for it, readable by their
    owner only: they hold every key and owner, and the hashes of the API tokens. SQLite
    gives its -wal and -shm files the database file's permissions."""
    missing = [p for p in reversed(path.parents) if not p.exists()]
    for directory in missing:
        directory.mkdir(mode=0o700, exist_ok=True)
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        return
    except OSError as exc:
        raise StoreUnavailable(f"cannot create the store at {path}: {exc.strerror}") from exc


def _sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
    # Let SQLAlchemy's "begin" event emit BEGIN so that writers can ask for IMMEDIATE.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def _sqlite_begin(conn: sa.Connection) -> None:
    if conn.get_execution_options().get("dockyard_write", False):
        conn.exec_driver_sql("BEGIN IMMEDIATE")
