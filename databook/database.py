"""The portal's database: one SQLAlchemy metadata for accounts, the ledger and the registers.

SQLite is the embedded default and PostgreSQL is tested; the schema is made and changed only
by the Alembic migrations in ``portal/migrations``, never by ``create_all`` in production code.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker

log = logging.getLogger(__name__)

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


def session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


#: WAL pages after which a committing connection checkpoints by itself (SQLite's default is
#: 1000, about 4 MiB). A serving process moves the WAL on a thread of its own
#: (``checkpoint_in_background``), so its own commits keep this only as a backstop.
BACKSTOP_PAGES = 10_000


class WalCheckpoints(threading.Thread):
    """A daemon thread that runs a PASSIVE checkpoint of one SQLite database every
    ``every_s`` seconds on a connection of its own, until ``stop``."""

    def __init__(self, path: str, every_s: float) -> None:
        super().__init__(name="wal-checkpoint", daemon=True)
        self.path, self.every_s = path, every_s
        self._stopping = threading.Event()

    def run(self) -> None:
        connection = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        try:
            while not self._stopping.wait(self.every_s):
                try:
                    connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                except sqlite3.Error as exc:  # the next one may succeed; the backstop holds
                    log.warning("WAL checkpoint failed (%s); retrying in %g s",
                                type(exc).__name__, self.every_s)
        finally:
            connection.close()

    def stop(self) -> None:
        self._stopping.set()
        self.join()


def checkpoint_in_background(engine: Engine, every_s: float = 1.0) -> WalCheckpoints | None:
    """Copy the WAL into the database file every ``every_s`` seconds on a daemon thread,
    instead of inside whichever commit crosses SQLite's 1000-page threshold.

    That commit (a sign-in or a download, holding the write lock) otherwise pays for copying
    ~4 MiB and an fsync of the database file: 10 to 20 ms, the ledger append's slowest
    entries under the portal benchmark. A PASSIVE checkpoint waits for no reader or writer,
    so the thread holds nobody up; the backstop still bounds the WAL if it fell behind. Only
    for a long-running server (``portal.asgi``); commands keep SQLite's default. PostgreSQL
    and in-memory databases: nothing to do (None)."""
    if engine.dialect.name != "sqlite" or engine.url.database in (None, "", ":memory:"):
        return None

    @event.listens_for(engine, "connect")
    def _backstop(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA wal_autocheckpoint={BACKSTOP_PAGES}")
        cursor.close()

    engine.dispose()  # connections made before this reconnect with the backstop
    thread = WalCheckpoints(str(engine.url.database), every_s)
    thread.start()
    return thread
