"""The portal database's two kinds of transaction on SQLite: writers begin IMMEDIATE (they
queue for the write lock at the start), readers begin DEFERRED and read only, so a page's
access check neither waits for nor holds up a ledger append, and cannot write by mistake.
And a serving process's WAL checkpoints, which run on a thread of their own, not in a commit."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from databook.database import (
    BACKSTOP_PAGES,
    BUSY_TIMEOUT_S,
    WalCheckpoints,
    checkpoint_in_background,
    engine_for,
    readers,
    session_factory,
)


def test_a_reader_does_not_wait_for_a_writer_and_cannot_write(tmp_path: Path) -> None:
    engine = engine_for(f"sqlite:///{tmp_path / 'portal.sqlite'}")
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE t (a INTEGER)"))
        conn.execute(text("INSERT INTO t VALUES (1)"))
    write, read = session_factory(engine), readers(engine)
    holder = write()
    holder.execute(text("INSERT INTO t VALUES (2)"))  # holds the write lock, uncommitted
    try:
        # A reader that took the write lock would wait here, then fail "database is locked".
        with read.begin() as db:
            assert db.execute(text("SELECT count(*) FROM t")).scalar() == 1
        with pytest.raises(OperationalError, match="readonly"), read.begin() as db:
            db.execute(text("INSERT INTO t VALUES (3)"))
    finally:
        holder.commit()
        holder.close()
    with write.begin() as db:  # the same pooled connections write again afterwards
        db.execute(text("INSERT INTO t VALUES (4)"))
        assert db.execute(text("SELECT count(*) FROM t")).scalar() == 3
    engine.dispose()


def _next_id(db: Session) -> None:
    """Read the highest id, then insert the next: two writers at once would collide."""
    last = db.execute(text("SELECT coalesce(max(id), -1) FROM log")).scalar_one()
    db.execute(text("INSERT INTO log (id) VALUES (:id)"), {"id": last + 1})


def test_writers_in_one_process_take_turns_and_always_give_them_back(tmp_path: Path) -> None:
    engine = engine_for(f"sqlite:///{tmp_path / 'portal.sqlite'}", pool_size=8)
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE log (id INTEGER PRIMARY KEY)"))
    write = session_factory(engine)

    def writer() -> None:
        for _ in range(40):
            with write.begin() as db:
                _next_id(db)

    threads = [threading.Thread(target=writer) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    with write.begin() as db:
        assert db.execute(text("SELECT count(*), max(id) FROM log")).one() == (240, 239)

    def next_writer_goes_at_once() -> bool:
        done = threading.Event()

        def one_more() -> None:
            with write.begin() as db:
                _next_id(db)
            done.set()

        threading.Thread(target=one_more, daemon=True).start()
        return done.wait(BUSY_TIMEOUT_S / 3)

    # A write transaction that fails, and a connection closed in the middle of one, give the
    # turn back: the next writer (on another thread) does not wait out the busy timeout.
    with pytest.raises(RuntimeError), write.begin() as db:
        _next_id(db)
        raise RuntimeError("the request failed")
    assert next_writer_goes_at_once()
    abandoned = engine.connect()
    abandoned.begin()
    abandoned.execute(text("SELECT 1"))
    abandoned.invalidate()
    assert next_writer_goes_at_once()
    engine.dispose()


def _in_main_file(path: Path, table: str) -> int:
    """Rows of ``table`` in the database file itself, ignoring the WAL: what a checkpoint
    has copied there. -1 if the table is not in the file yet."""
    with sqlite3.connect(f"file:{path}?immutable=1", uri=True) as raw:
        try:
            return int(raw.execute(f"SELECT count(*) FROM {table}").fetchone()[0])
        except sqlite3.OperationalError:
            return -1


def _eventually(check: Callable[[], bool], seconds: float = 20.0) -> bool:
    """Poll ``check``; a file read half way through a checkpoint's copy (SQLite calls it
    malformed, as the immutable read promised it would not change) counts as not yet."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if check():
                return True
        except sqlite3.DatabaseError:
            pass
        time.sleep(0.05)
    return check()


def test_a_serving_process_checkpoints_on_its_own_thread_not_in_a_commit(
        tmp_path: Path) -> None:
    """SQLite's default: the commit that takes the WAL past 1000 pages copies it into the
    database file itself (holding the write lock). A serving engine leaves that to a thread."""
    blob = b"x" * (6 * 1024 * 1024)  # ~1,500 pages: past SQLite's default threshold
    default = tmp_path / "default.sqlite"
    engine = engine_for(f"sqlite:///{default}")
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE t (b BLOB)"))
        conn.execute(text("INSERT INTO t VALUES (:b)"), {"b": blob})
    assert _in_main_file(default, "t") == 1  # the commit checkpointed: the control
    engine.dispose()

    serving = tmp_path / "serving.sqlite"
    engine = engine_for(f"sqlite:///{serving}")
    with engine.begin() as conn:  # a connection made before the thread: it must reconnect
        conn.execute(text("CREATE TABLE t (b BLOB)"))
    # SQLite also checkpoints when the last connection closes: this one stays open throughout.
    keeper = sqlite3.connect(serving)
    keeper.execute("SELECT count(*) FROM t").fetchone()
    idle = checkpoint_in_background(engine, every_s=3600)
    assert idle is not None
    try:
        with engine.begin() as conn:
            assert conn.execute(text("PRAGMA wal_autocheckpoint")).scalar() == BACKSTOP_PAGES
            conn.execute(text("INSERT INTO t VALUES (:b)"), {"b": blob})
        assert _in_main_file(serving, "t") < 1  # the commit left the WAL alone
    finally:
        idle.stop()
    assert not idle.is_alive()

    busy = WalCheckpoints(str(serving), every_s=0.05)
    busy.start()
    try:
        assert _eventually(lambda: _in_main_file(serving, "t") == 1)  # the thread copied it
        with engine.begin() as conn:  # and writers go on beside it
            conn.execute(text("INSERT INTO t VALUES (x'00')"))
        assert _eventually(lambda: _in_main_file(serving, "t") == 2)
    finally:
        busy.stop()
        keeper.close()
    engine.dispose()


def test_nothing_to_checkpoint_off_sqlite_files(pg_url: str) -> None:
    assert checkpoint_in_background(engine_for("sqlite://")) is None
    assert checkpoint_in_background(engine_for(pg_url)) is None
