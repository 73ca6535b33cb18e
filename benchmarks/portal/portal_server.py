"""The portal exactly as ``databook portal serve`` builds it (``portal.asgi.app``), plus what
the benchmark needs to see inside: the time of every ledger append, from the moment ``record``
starts (waiting for the write lock included) to the end of the commit that makes it durable,
written to ``$BENCH_APPEND_LOG`` (one line per transaction, in ms: total, waiting for the
write lock, the append's own work, append end to commit end, then the thread's CPU time and
its time waiting in the kernel's run queue over the total, from ``/proc/thread-self/schedstat``:
what is neither was spent blocked, on the GIL, a lock or the disk).

``BENCH_SQLITE_SYNCHRONOUS=NORMAL`` runs the same portal with SQLite's ``synchronous=NORMAL``
(in WAL mode: no fsync per commit; a power cut may lose the last commits, never corrupt the
database). The product keeps SQLite's default (FULL); this switch exists only here, so the
benchmark can measure what that durability costs.

    PYTHONPATH=benchmarks/portal uvicorn --factory portal_server:app
"""

from __future__ import annotations

import os
import threading
import time
from typing import Any

from fastapi import FastAPI
from sqlalchemy import event
from sqlalchemy.orm import Session


def _thread_clock() -> tuple[float, float]:
    """This thread's CPU time (exact) and its time waiting in the kernel's run queue so far
    (Linux ``schedstat``; zero elsewhere), in seconds."""
    try:
        with open("/proc/thread-self/schedstat") as stat:
            waiting = int(stat.read().split()[1]) / 1e9
    except (OSError, IndexError, ValueError):
        waiting = 0.0
    return time.thread_time(), waiting


class _Times(threading.local):
    """Per request thread: when the transaction's first append started, when it got the
    write lock, when the last append ended, and the time spent appending."""

    def __init__(self) -> None:
        self.start: float | None = None
        self.clock = (0.0, 0.0)
        self.locked: float | None = None
        self.ended = 0.0
        self.inside = 0.0


_local = _Times()
_write = threading.Lock()


def _reset() -> None:
    _local.start = _local.locked = None
    _local.ended = _local.inside = 0.0


def _instrument_record(out: Any, engine: Any) -> None:
    """Per transaction that appended: total (record start to commit end), the wait for
    SQLite's write lock when the append began the transaction, the append's own work, and
    the time from the append's end to the end of the commit (the fsync, under FULL)."""
    import databook.ledger as ledger

    original = ledger.record
    _reset()

    def timed(db: Session, kind: str, /, **fields: Any) -> int:
        clock = _thread_clock()
        start = time.perf_counter()
        try:
            return original(db, kind, **fields)
        finally:
            if _local.start is None:
                _local.start, _local.clock = start, clock
            _local.inside += time.perf_counter() - start
            _local.ended = time.perf_counter()

    @event.listens_for(engine, "begin")
    def _locked(_connection: Any) -> None:  # runs after the product's BEGIN IMMEDIATE
        _local.locked = time.perf_counter()

    def committed(_session: Session) -> None:
        start = _local.start
        if start is not None:
            end = time.perf_counter()
            locked = _local.locked if _local.locked is not None and _local.locked > start \
                else start
            wait = locked - start
            on_cpu, queued = (now - then for now, then in zip(_thread_clock(), _local.clock,
                                                              strict=True))
            line = (f"{(end - start) * 1000:.3f} {wait * 1000:.3f} "
                    f"{(_local.inside - wait) * 1000:.3f} {(end - _local.ended) * 1000:.3f} "
                    f"{on_cpu * 1000:.3f} {queued * 1000:.3f}\n")
            with _write:
                out.write(line)
                out.flush()
        _reset()

    def rolled_back(_session: Session) -> None:
        _reset()

    ledger.record = timed
    event.listen(Session, "after_commit", committed)
    event.listen(Session, "after_rollback", rolled_back)


def app() -> FastAPI:
    from portal.asgi import app as portal_app

    built = portal_app()
    engine = built.state.portal.engine
    if os.environ.get("BENCH_SQLITE_SYNCHRONOUS"):
        mode = os.environ["BENCH_SQLITE_SYNCHRONOUS"].upper()
        if mode not in ("FULL", "NORMAL"):
            raise ValueError("BENCH_SQLITE_SYNCHRONOUS must be FULL or NORMAL")

        @event.listens_for(engine, "connect")
        def _synchronous(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute(f"PRAGMA synchronous={mode}")
            cursor.close()

    path = os.environ.get("BENCH_APPEND_LOG")
    if path:
        _instrument_record(open(path, "a", buffering=1), engine)  # noqa: SIM115
    path = os.environ.get("BENCH_CHECKPOINT_LOG")
    if path:
        _instrument_tail(open(path, "a", buffering=1), built.state.ledger_tail)  # noqa: SIM115
    return built


def _instrument_tail(out: Any, signer: Any) -> None:
    """Each checkpoint the server's tail signer signs: its time in ms (the
    read-only look, then the write transaction: lock, root, Ed25519 signature, commit) and
    how many entries it covered, one line each."""
    once = signer.once
    last = [0]

    def timed() -> int | None:
        started = time.perf_counter()
        size = once()
        if size is not None:
            with _write:
                out.write(f"{(time.perf_counter() - started) * 1000:.3f} "
                          f"{size - last[0]}\n")
            last[0] = size
        return size

    signer.once = timed
