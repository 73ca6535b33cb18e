"""A portal database holding the register tables, on SQLite and on the real PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine

from databook.database import engine_for


def register_tables(engine: Engine) -> None:
    """The portal's whole schema, made by its real migrations (0001, 0002, then ours)."""
    from portal.migrate import upgrade

    upgrade(engine.url.render_as_string(hide_password=False))


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    engine = engine_for(db_url)
    register_tables(engine)
    try:
        yield engine
    finally:
        engine.dispose()


def add_user(engine: Engine, email: str, urn: int, role: str = "dsl",
             state: str = "active") -> int:
    """A named account at one school, as ``databook users add`` leaves it (no credentials)."""
    from datetime import UTC, datetime

    from sqlalchemy.orm import Session

    from portal.models import User, UserSchool

    now = datetime.now(UTC)
    with Session(engine) as s, s.begin():
        user = User(email=email, name="A Lead", role=role, state=state, created_at=now,
                    schools=[UserSchool(urn=urn, added_at=now)])
        s.add(user)
        s.flush()
        return user.id
