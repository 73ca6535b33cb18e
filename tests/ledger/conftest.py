"""A migrated portal database (SQLite file or a fresh PostgreSQL schema) with the ledger's
configuration pointing at a private state folder."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from portal.db import engine_for, sessions
from portal.ledger.config import LedgerConfig
from portal.migrate import upgrade


@dataclass
class Ledger:
    config: LedgerConfig
    engine: Engine
    session: sessionmaker[Session]


def make_ledger(url: str, state: Path) -> Ledger:
    upgrade(url)
    engine = engine_for(url)
    return Ledger(LedgerConfig(state, url), engine, sessions(engine))


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'portal.sqlite'}"
    url: str = request.getfixturevalue("pg_url")
    return url


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
