"""The leak tests search every output for the marker strings the demo plants in the columns
the extract must never read; a demo that stopped planting them would make those tests pass
without checking anything."""

from __future__ import annotations

from sqlalchemy import create_engine, func, select

from demo import FORBIDDEN_MARKERS
from demo.markers import DETAILS_MARK, NOTE_MARK, POLICE_REF_MARK
from schemas.source import LA_PERSON_WARNINGS, LA_POLICE_NOTIFICATIONS
from tests.support import Council


def test_the_demo_plants_every_marker_the_leak_tests_look_for(council: Council) -> None:
    assert set(FORBIDDEN_MARKERS) == {NOTE_MARK, DETAILS_MARK, POLICE_REF_MARK}
    planted = {
        NOTE_MARK: LA_PERSON_WARNINGS.c.NOTE,
        DETAILS_MARK: LA_POLICE_NOTIFICATIONS.c.DETAILS,
        POLICE_REF_MARK: LA_POLICE_NOTIFICATIONS.c.POLICE_REFERENCE,
    }
    engine = create_engine(council.case_url)
    try:
        with engine.connect() as conn:
            for mark, column in planted.items():
                rows = conn.scalar(select(func.count()).where(column.contains(mark)))
                assert rows and rows > 0, f"the demo no longer plants {mark!r} in {column}"
    finally:
        engine.dispose()
