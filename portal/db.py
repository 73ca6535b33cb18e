"""The portal's database: one SQLAlchemy metadata for accounts, the ledger and the registers.

SQLite is the embedded default and PostgreSQL is tested; the schema is made and changed only
by the Alembic migrations in ``portal/migrations``, never by ``create_all`` in production code.
"""

from __future__ import annotations

import sqlite3
import threading
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker

#: Execution option of ``readers``' engine: begin DEFERRED and read only.
READ_ONLY = "databook_read_only"
#: How long a writer waits for SQLite's write lock (busy_timeout), and for its turn here.
BUSY_TIMEOUT_S = 30


def taking_turns(turns: threading.Lock) -> type[sqlite3.Connection]:
    """A sqlite3 connection class whose writers queue for ``turns`` (one per engine) before
    ``BEGIN IMMEDIATE`` and leave it when the transaction ends.

    SQLite's own busy handler polls a held write lock after sleeping 1, 2, 5, 10 ms and so on,
    so a writer that found the lock taken for half a millisecond waited 1 to 8 ms; this
    process's writers instead wake the moment the last one commits. Writers in other
    processes (``--workers``) still meet SQLite's lock, which stays the guarantee; the turn
    is only the order. Waiting for the turn is bounded like the busy timeout, so a transaction
    that never ended can slow the next writer, never stop it."""

    class Connection(sqlite3.Connection):
        holding = False

        def take_turn(self) -> None:
            self.holding = turns.acquire(timeout=BUSY_TIMEOUT_S)

        def end_turn(self) -> None:
            if self.holding:
                self.holding = False
                turns.release()

        def commit(self) -> None:
            try:
                super().commit()
            finally:
                self.end_turn()

        def rollback(self) -> None:
            try:
                super().rollback()
            finally:
                self.end_turn()

        def close(self) -> None:
            try:
                super().close()
            finally:
                self.end_turn()

    return Connection


class Base(DeclarativeBase):
    """Every portal table hangs off this one metadata, so one migration history covers all."""


def engine_for(url: str, **options: Any) -> Engine:
    """An engine on which concurrent writers queue instead of failing.

    SQLite: WAL (readers never wait for the writer), a busy timeout, and every transaction
    begun ``IMMEDIATE``, so two portal workers appending to the ledger take turns for the
    write lock at the start instead of deadlocking on an upgrade half way through. PostgreSQL
    needs nothing here: the ledger takes its own transaction-scoped advisory lock.
    """
    if url.startswith("sqlite"):
        connect_args = {**options.pop("connect_args", {}),
                        "factory": taking_turns(threading.Lock())}
        options["connect_args"] = connect_args
    engine = create_engine(url, **options)
    if engine.dialect.name == "sqlite":

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_connection: Any, _record: Any) -> None:
            dbapi_connection.isolation_level = None  # let the "begin" hook below own BEGIN
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_S * 1000}")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()

        @event.listens_for(engine, "begin")
        def _on_begin(connection: Any) -> None:
            read_only = bool(connection.get_execution_options().get(READ_ONLY))
            if connection.info.get(READ_ONLY) != read_only:  # per connection, not per BEGIN
                connection.exec_driver_sql(f"PRAGMA query_only={int(read_only)}")
                connection.info[READ_ONLY] = read_only
            if read_only:
                connection.exec_driver_sql("BEGIN")
                return
            raw = connection.connection.dbapi_connection
            raw.take_turn()
            try:
                connection.exec_driver_sql("BEGIN IMMEDIATE")
            except BaseException:
                raw.end_turn()
                raise

    return engine


def readers(engine: Engine) -> sessionmaker[Session]:
    """Sessions for read-only transactions (``PortalContext.reading``).

    On SQLite they begin DEFERRED: a WAL reader neither takes nor waits for the write lock, so
    the access check every page makes never holds up a ledger append. ``query_only`` makes any
    write in them fail at once rather than try to upgrade a reader into a writer (which can
    fail under load with "database is locked", however long the busy timeout)."""
    return sessionmaker(engine.execution_options(**{READ_ONLY: True}), expire_on_commit=False)


def sessions(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)
