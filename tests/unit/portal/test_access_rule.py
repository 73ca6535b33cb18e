"""The registers' rule inside the portal's ONE access layer, applied with every download rule.

The portal's own tests drive the browser; here the rule list itself is applied to a real
database, so dropping the rule from ``DOWNLOAD_RULES`` or reordering it fails a test.
"""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from portal import access
from portal.config import load
from portal.registers import store
from portal.registers.gate import today
from portal.registers.record import SchoolRecord
from tests.support import add_register_user as add_user

SIGNED = SchoolRecord(urn=112000, name="Flagg Nursery School",
                      protocol_signed_on=date(2025, 9, 1), protocol_version="1.0",
                      protocol_signatory_title="Chair of Governors")
UNSIGNED = SchoolRecord(urn=112017, name="Ashover Primary School")


def viewer(user_id: int, schools: set[int]) -> access.Viewer:
    return access.Viewer(user_id, "a.dsl@flagg.sch.uk", "A Lead", "dsl", "active", "full",
                         "token", frozenset(schools), frozenset({"1.0"}), "csrf")


def download(engine: Engine, who: access.Viewer, urn: int, tmp_path: Path) -> str | None:
    portal = load(environ={"DATABOOK_HOME": str(tmp_path), "DATABOOK_PORTAL_GOVERNANCE_CONTACT":
                           "the Service Desk on 01629 537777"}).portal
    context: Any = SimpleNamespace(portal=portal)  # the rules read only .portal from it
    with Session(engine) as db:
        try:
            access.apply(access.DOWNLOAD_RULES, access.Check(who, context, db, urn, "download"))
        except access.Denied as denied:
            assert "01629 537777" in str(denied) or denied.what == "other_school"
            return f"{denied.status} {denied.what}"
    return None


@pytest.fixture
def users(engine: Engine) -> tuple[int, int]:
    with Session(engine) as s, s.begin():
        store.save(s, [SIGNED, UNSIGNED])
    return (add_user(engine, "a.dsl@flagg.sch.uk", 112000),
            add_user(engine, "b.dsl@ashover.sch.uk", 112017))


def test_a_signed_school_downloads_an_unsigned_one_is_refused(
        engine: Engine, users: tuple[int, int], tmp_path: Path) -> None:
    flagg, ashover = users
    assert download(engine, viewer(flagg, {112000}), 112000, tmp_path) is None
    assert download(engine, viewer(ashover, {112017}), 112017, tmp_path) == \
        "403 no_current_protocol"


def test_another_schools_protocol_never_opens_a_door(engine: Engine, users: tuple[int, int],
                                                     tmp_path: Path) -> None:
    """The unsigned school's user asks for the signed school's file: own-school comes first."""
    _flagg, ashover = users
    assert download(engine, viewer(ashover, {112017}), 112000, tmp_path) == "404 other_school"


def test_a_lapsed_confirmation_refuses_until_the_school_confirms(
        engine: Engine, users: tuple[int, int], tmp_path: Path) -> None:
    flagg, _ashover = users
    with Session(engine) as s, s.begin():
        store.request_confirmation(s, flagg, 112000, today() - timedelta(days=60))
    assert download(engine, viewer(flagg, {112000}), 112000, tmp_path) == \
        "403 dsl_not_confirmed"
    with Session(engine) as s, s.begin():
        store.confirm(s, flagg, 112000, by="Headteacher", today=today())
    assert download(engine, viewer(flagg, {112000}), 112000, tmp_path) is None
