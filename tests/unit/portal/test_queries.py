"""The register and the user list are read in a fixed number of queries, whatever the
county's size (no query per school or per user), with the same answers as before."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import Engine, event
from sqlalchemy.orm import Session

from portal import accounts
from portal.models import User, UserSchool
from portal.registers import store
from portal.registers.record import SchoolRecord


@contextmanager
def counted(engine: Engine) -> Iterator[list[str]]:
    """Every SELECT the engine sends while inside."""
    seen: list[str] = []

    def note(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            seen.append(statement)

    event.listen(engine, "before_cursor_execute", note)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", note)


def test_load_all_reads_letters_in_one_query(engine: Engine) -> None:
    records = [SchoolRecord(urn=100000 + i, name=f"School {i}",
                            letters=(date(2026, 1, 1 + i), date(2026, 2, 1 + i)))
               for i in range(12)]
    with Session(engine) as db, db.begin():
        store.save(db, records)
    with Session(engine) as db, counted(engine) as seen:
        loaded = store.load_all(db)
    assert loaded == records
    assert len(seen) == 2, seen  # the schools, then every school's letters at once


def test_listing_reads_schools_in_one_query(engine: Engine) -> None:
    now = datetime.now(UTC)
    with Session(engine) as db, db.begin():
        for i in range(10):
            db.add(User(email=f"lead{i:02}@school{i}.example", name="A Lead", role="dsl",
                        state="active", created_at=now,
                        schools=[UserSchool(urn=100000 + i, added_at=now),
                                 UserSchool(urn=100100 + i, added_at=now)]))
        db.add(User(email="olu.officer@council.example", name="Olu", role="council",
                    state="active", created_at=now))
    with Session(engine) as db, counted(engine) as seen:
        everyone = [(u.email, urns) for u, urns in accounts.listing(db)]
        one = [(u.email, urns) for u, urns in accounts.listing(db, 100003)]
    assert everyone[:2] == [("lead00@school0.example", [100000, 100100]),
                            ("lead01@school1.example", [100001, 100101])]
    assert everyone[-1] == ("olu.officer@council.example", [])
    assert one == [("lead03@school3.example", [100003, 100103])]
    assert len(seen) == 4, seen  # two per listing: the users, then their schools
