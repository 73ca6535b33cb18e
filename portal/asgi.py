"""The ASGI entry point for uvicorn with several workers (each imports the app itself):
``uvicorn --factory portal.asgi:app --workers 4``. Settings come from the environment and
``databook.toml`` exactly as for ``databook``; the database must already be migrated
(``databook portal serve`` does that before it starts the workers).

Beyond ``create_app``, a long-running server moves SQLite's WAL into the database file on a
thread of its own (``databook.database.checkpoint_in_background``) and freezes start-up's
objects out of garbage collection: both were pauses that landed at random inside requests."""

from __future__ import annotations

import gc

from fastapi import FastAPI


def app() -> FastAPI:
    from databook.database import checkpoint_in_background
    from portal.app import create_app
    from portal.config import load

    built = create_app(load())
    built.state.wal_checkpoints = checkpoint_in_background(built.state.portal.engine)
    settle_heap()
    return built


def settle_heap() -> None:
    """Keep the ~160,000 objects of start-up (modules, settings, templates) out of every
    later garbage collection. A full collection over them took about 200 ms here, and it
    stops every thread, so it came at random in the middle of requests (a ledger append
    holding the database's write lock, for one). Frozen, a full collection scans only what
    requests made since (well under a millisecond)."""
    gc.collect()
    gc.freeze()
