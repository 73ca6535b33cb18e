"""The server's entry point (what ``databook portal serve`` and uvicorn's workers call)
freezes start-up's objects, so a full garbage collection never stops a request for the
~200 ms it takes to scan them, and checkpoints SQLite's WAL on a thread of its own."""

from __future__ import annotations

import gc

import pytest

from portal import asgi
from tests.support import Env


def test_the_server_entry_point_leaves_start_up_out_of_collections(
        env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in env.environ().items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("DATABOOK_PORTAL_BASE_URL", "https://testserver")
    gc.unfreeze()
    app = asgi.app()
    try:
        assert app.state.portal.settings.home == env.home
        assert gc.get_freeze_count() > 10_000
        assert app.state.wal_checkpoints.is_alive()
        assert app.state.wal_checkpoints.path == app.state.portal.engine.url.database
    finally:
        gc.unfreeze()
        app.state.wal_checkpoints.stop()
