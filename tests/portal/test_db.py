"""The portal database's two kinds of transaction on SQLite: writers begin IMMEDIATE (they
queue for the write lock at the start), readers begin DEFERRED and read only, so a page's
access check neither waits for nor holds up a ledger append, and cannot write by mistake."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from portal.db import engine_for, readers, sessions


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
