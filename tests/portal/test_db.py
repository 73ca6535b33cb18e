"""The portal database's two kinds of transaction on SQLite: writers begin IMMEDIATE (they
queue for the write lock at the start), readers begin DEFERRED and read only, so a page's
access check neither waits for nor holds up a ledger append, and cannot write by mistake."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from portal.db import BUSY_TIMEOUT_S, engine_for, readers, sessions


def test_a_reader_does_not_wait_for_a_writer_and_cannot_write(tmp_path: Path) -> None:
    engine = engine_for(f"sqlite:///{tmp_path / 'portal.sqlite'}")
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE t (a INTEGER)"))
        conn.execute(text("INSERT INTO t VALUES (1)"))
    write, read = sessions(engine), readers(engine)
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
    write = sessions(engine)

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
