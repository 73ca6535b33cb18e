"""The register's gate at download time, read fresh from the database on every call."""

from __future__ import annotations

from datetime import date

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from portal.registers import store
from portal.registers.gate import NO_PROTOCOL, SUSPENDED, Policy, refusal
from portal.registers.record import SchoolRecord, Versions
from tests.support import add_register_user as add_user

TODAY = date(2026, 11, 21)
POLICY = Policy(Versions(protocol="2.0", agreement="1.0"), confirmation_days=14,
                contact="the Service Desk on 01629 537777")
SIGNED = SchoolRecord(urn=112000, name="Flagg Nursery School",
                      protocol_signed_on=date(2025, 9, 1), protocol_version="2.0",
                      protocol_signatory_title="Chair of Governors")


def ask(engine: Engine, user_id: int = 1, urn: int = 112000) -> str | None:
    with Session(engine) as s:
        found = refusal(s, user_id, urn, TODAY, POLICY)
        return None if found is None else found.code


def test_signed_school_and_confirmed_user_may_download(engine: Engine) -> None:
    with Session(engine) as s, s.begin():
        store.save(s, [SIGNED])
    assert ask(engine) is None


def test_a_school_missing_unsigned_or_on_an_old_protocol_is_refused(engine: Engine) -> None:
    assert ask(engine) == NO_PROTOCOL  # not on the register at all
    with Session(engine) as s, s.begin():
        store.save(s, [SchoolRecord(urn=112000, name="Flagg Nursery School"),
                       SchoolRecord(urn=112017, name="Old", protocol_signed_on=date(2024, 1, 1),
                                    protocol_version="1.9", protocol_signatory_title="Head")])
    assert ask(engine) == NO_PROTOCOL
    assert ask(engine, urn=112017) == NO_PROTOCOL
    with Session(engine) as s:
        found = refusal(s, 1, 112000, TODAY, POLICY)
    assert found is not None and "01629 537777" in found.message


def test_another_schools_signature_does_not_open_this_school(engine: Engine) -> None:
    with Session(engine) as s, s.begin():
        store.save(s, [SchoolRecord(**{**SIGNED.__dict__, "urn": 112017})])
    assert ask(engine, urn=112000) == NO_PROTOCOL


def test_an_unconfirmed_user_is_suspended_until_confirmed(engine: Engine) -> None:
    late = add_user(engine, "late@flagg.sch.uk", 112000)
    new = add_user(engine, "new@flagg.sch.uk", 112000)
    with Session(engine) as s, s.begin():
        store.save(s, [SIGNED])
        store.request_confirmation(s, late, 112000, date(2026, 11, 1))
        store.request_confirmation(s, new, 112000, date(2026, 11, 10))
    assert ask(engine, user_id=late) == SUSPENDED  # 20 days > 14
    assert ask(engine, user_id=new) is None  # still inside the window
    with Session(engine) as s, s.begin():
        store.confirm(s, late, 112000, by="Headteacher", today=TODAY)
    assert ask(engine, user_id=late) is None
