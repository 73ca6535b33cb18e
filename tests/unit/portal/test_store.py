"""Register rows through the portal database, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from portal.registers import store
from portal.registers.models import RegisterLetter
from portal.registers.record import SchoolRecord
from portal.registers.rules import is_suspended
from schemas.registers import IN_CONVERSATION
from tests.support import add_register_user as add_user

A = SchoolRecord(urn=112000, name="Flagg Nursery School", protocol_signed_on=date(2025, 9, 1),
                 protocol_signatory_title="Chair of Governors", protocol_version="1.0",
                 letters=(date(2025, 6, 1), date(2025, 7, 1)))
B = SchoolRecord(urn=112017, name="Ashover Primary School", note="phoned twice")


def test_save_then_load_round_trips_and_counts_changes(engine: Engine) -> None:
    with Session(engine) as s, s.begin():
        assert store.save(s, [A, B]) == store.ImportCounts(added=2, changed=0, unchanged=0)
    with Session(engine) as s:
        assert store.load_all(s) == [A, B]
        assert store.load(s, 112017) == B
        assert store.load(s, 999999) is None
    newer = SchoolRecord(urn=112017, name=B.name, letters=(date(2026, 1, 5),),
                         contact_status=IN_CONVERSATION)
    with Session(engine) as s, s.begin():
        assert store.save(s, [A, newer]) == store.ImportCounts(added=0, changed=1, unchanged=1)
    with Session(engine) as s:
        assert store.load_all(s) == [A, newer]
        # the old letters went with the old entry; nothing is left dangling
        assert s.scalar(select(func.count()).select_from(RegisterLetter)) == 3


def test_a_partial_file_leaves_other_schools_alone(engine: Engine) -> None:
    with Session(engine) as s, s.begin():
        store.save(s, [A, B])
    with Session(engine) as s, s.begin():
        store.save(s, [SchoolRecord(urn=112000, name="Renamed")])
    with Session(engine) as s:
        assert [r.name for r in store.load_all(s)] == ["Renamed", B.name]


def test_a_failure_part_way_writes_nothing(engine: Engine) -> None:
    """The caller's one transaction: a row the database refuses undoes the rows before it."""
    too_long = SchoolRecord(urn=112034, name="x" * 5000)  # past the column, on PostgreSQL
    with pytest.raises(Exception), Session(engine) as s, s.begin():  # noqa: B017
        store.save(s, [A, too_long])
        raise RuntimeError("stands in for any later failure, on SQLite which takes long text")
    with Session(engine) as s:
        assert store.load_all(s) == []


def test_confirmation_round_suspends_then_confirming_lifts_it(engine: Engine) -> None:
    asked, later = date(2026, 9, 7), date(2026, 10, 1)
    one = add_user(engine, "one@flagg.sch.uk", 112000)
    two = add_user(engine, "two@flagg.sch.uk", 112000)
    with Session(engine) as s, s.begin():
        store.confirm(s, user_id=one, urn=112000, by="Headteacher", today=date(2026, 4, 20))
        store.request_confirmation(s, user_id=one, urn=112000, today=asked)
        store.request_confirmation(s, user_id=two, urn=112000, today=asked)
    with Session(engine) as s:
        assert is_suspended(*store.confirmation_dates(s, one, 112000), later, 14)
        assert is_suspended(*store.confirmation_dates(s, two, 112000), later, 14)
        assert store.confirmation_dates(s, two + 1, 112000) == (None, None)
    with Session(engine) as s, s.begin():
        store.confirm(s, user_id=one, urn=112000, by="Headteacher", today=later)
    with Session(engine) as s:
        assert not is_suspended(*store.confirmation_dates(s, one, 112000), later, 14)
        assert is_suspended(*store.confirmation_dates(s, two, 112000), later, 14)
        # a confirmation at one school says nothing about another
        assert store.confirmation_dates(s, one, 112017) == (None, None)
