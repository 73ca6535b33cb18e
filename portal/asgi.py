"""The ASGI entry point for uvicorn with several workers (each imports the app itself):
``uvicorn --factory portal.asgi:app --workers 4``. Settings come from the environment and
``databook.toml`` exactly as for ``databook``; the database must already be migrated
(``databook portal serve`` does that before it starts the workers).

Beyond ``create_app``, a long-running server moves SQLite's WAL into the database file on a
thread of its own (``databook.database.checkpoint_in_background``) and freezes start-up's
objects out of garbage collection: both were pauses that landed at random inside requests. It
also signs the ledger's tail within a second of any append (``databook.ledger.tail``)."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio.to_thread
from fastapi import FastAPI

from databook.database import checkpoint_in_background
from databook.ledger.config import from_settings
from databook.ledger.tail import TailSigner
from portal.app import create_app
from portal.config import load


def app() -> FastAPI:
    built = create_app(load())
    built.state.wal_checkpoints = checkpoint_in_background(built.state.portal.engine)
    built.state.ledger_tail = sign_tail_in_background(built)
    settle_heap()
    return built


def sign_tail_in_background(built: FastAPI) -> object:
    """Every ledger entry under a signed checkpoint within ``ledger_tail_seconds``
    (``databook.ledger.tail.TailSigner``), and a last checkpoint when the server stops."""
    context = built.state.portal
    signer = TailSigner(context.sessions, context.readers, from_settings(context.settings),
                        alert=context.alert)
    signer.start()
    served = built.router.lifespan_context

    @asynccontextmanager
    async def lifespan(app: Any) -> AsyncIterator[Any]:
        async with served(app) as state:
            yield state
        await anyio.to_thread.run_sync(signer.stop)

    built.router.lifespan_context = lifespan
    return signer


def settle_heap() -> None:
    """Keep the ~160,000 objects of start-up (modules, settings, templates) out of every
    later garbage collection. A full collection over them took about 200 ms here, and it
    stops every thread, so it came at random in the middle of requests (a ledger append
    holding the database's write lock, for one). Frozen, a full collection scans only what
    requests made since (well under a millisecond)."""
    gc.collect()
    gc.freeze()
