"""A migrated portal database (SQLite file or a fresh PostgreSQL schema) with the ledger's
configuration pointing at a private state folder."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import ClassVar

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from databook.database import engine_for, session_factory
from databook.ledger.config import LedgerConfig
from portal.migrate import upgrade


@dataclass
class Ledger:
    config: LedgerConfig
    engine: Engine
    session: sessionmaker[Session]


def make_ledger(url: str, state: Path) -> Ledger:
    upgrade(url)
    engine = engine_for(url)
    return Ledger(LedgerConfig(state, url), engine, session_factory(engine))


@pytest.fixture
def ledger(db_url: str, tmp_path: Path) -> Iterator[Ledger]:
    made = make_ledger(db_url, tmp_path / "state")
    yield made
    made.engine.dispose()


@pytest.fixture
def sqlite_ledger(tmp_path: Path) -> Iterator[Ledger]:
    made = make_ledger(f"sqlite:///{tmp_path / 'portal.sqlite'}", tmp_path / "state")
    yield made
    made.engine.dispose()


class _Hook(BaseHTTPRequestHandler):
    received: ClassVar[list[dict[str, object]]] = []

    def do_POST(self) -> None:
        length = int(self.headers["Content-Length"])
        self.received.append(json.loads(self.rfile.read(length)))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *_args: object) -> None:
        pass


@pytest.fixture
def webhook() -> Iterator[tuple[str, list[dict[str, object]]]]:
    server = HTTPServer(("127.0.0.1", 0), _Hook)
    _Hook.received = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/", _Hook.received
    server.shutdown()
    server.server_close()


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Ledger:
    """A DATABOOK_HOME whose portal database is where the settings' defaults put it."""
    home = tmp_path / "home"
    monkeypatch.setenv("DATABOOK_HOME", str(home))
    for name in ("DATABOOK_CONFIG", "DATABOOK_PORTAL_DATABASE_URL", "DATABOOK_PORTAL_STATE_DIR",
                 "DATABOOK_MASTER_KEY"):
        monkeypatch.delenv(name, raising=False)
    (home / "portal").mkdir(parents=True)
    made = make_ledger(f"sqlite:///{home / 'portal' / 'portal.sqlite'}",
                       home / "portal" / "state")
    return made
