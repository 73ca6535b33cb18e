"""The governance rules, one definition each: protocol gate, escalation, out of date, suspension."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from portal.registers import rules
from portal.registers.record import SchoolRecord, Versions
from schemas.registers import ENDED_UNRESOLVED, IN_CONVERSATION, NO_CONTACT

TODAY = date(2026, 11, 21)
V = Versions(protocol="2.0", agreement="3.1")


def school(**fields: object) -> SchoolRecord:
    return SchoolRecord(**{"urn": 112000, "name": "Flagg Nursery School", **fields})  # type: ignore[arg-type]


def signed(**fields: object) -> SchoolRecord:
    return school(**{"protocol_signed_on": date(2025, 9, 1), "protocol_version": "2.0",
                     "protocol_signatory_title": "Chair of Governors",
                     "agreement_signed_on": date(2025, 9, 1), "agreement_version": "3.1",
                     "agreement_review_on": date(2028, 9, 1), **fields})


@pytest.mark.parametrize(("version", "current", "older"), [
    ("1.9", "1.10", True), ("1.10", "1.9", False), ("2", "2.0", False), ("2.0", "2", False),
    ("1.9.9", "2", True), ("3", "2.9", False), ("2.0.1", "2.0", False),
])
def test_versions_compare_by_number_not_text(version: str, current: str, older: bool) -> None:
    assert rules.is_older(version, current) is older


def test_a_version_that_is_not_dotted_numbers_is_refused() -> None:
    with pytest.raises(ValueError, match="not a version"):
        rules.version_key("v2")


def test_protocol_gate_needs_a_signed_current_protocol() -> None:
    assert rules.protocol_current(signed(), V)
    assert rules.protocol_current(signed(protocol_version="2.1"), V)
    assert not rules.protocol_current(None, V)  # not on the register at all
    assert not rules.protocol_current(school(), V)
    assert not rules.protocol_current(signed(protocol_version="1.9"), V)
    assert not rules.protocol_current(signed(protocol_signed_on=None), V)
    assert not rules.protocol_current(signed(protocol_version=""), V)


def test_the_data_sharing_agreement_does_not_gate_downloads() -> None:
    """The gate is the protocol; an unsigned agreement puts the school on the lists."""
    assert rules.protocol_current(signed(agreement_signed_on=None, agreement_version="",
                                         agreement_review_on=None), V)


TWO = (date(2026, 9, 1), date(2026, 10, 1))


@pytest.mark.parametrize(("record", "escalate"), [
    (school(letters=TWO, contact_status=NO_CONTACT), True),
    (school(letters=TWO, contact_status=ENDED_UNRESOLVED), True),
    (school(letters=TWO, contact_status=IN_CONVERSATION), False),  # given time
    (school(letters=TWO[:1], contact_status=NO_CONTACT), False),  # only one letter
    (school(letters=(TWO[0], TODAY + timedelta(days=1))), False),  # second not sent yet
    (school(letters=(*TWO, date(2026, 11, 1))), True),  # a third letter changes nothing
    (signed(letters=TWO), False),  # returned
    (signed(letters=TWO, agreement_signed_on=None), True),  # protocol alone is not enough
    (signed(letters=TWO, protocol_signed_on=None), True),
])
def test_escalation_is_seed_004s_definition(record: SchoolRecord, escalate: bool) -> None:
    assert rules.requires_escalation(record, TODAY) is escalate


def test_agreement_out_of_date_by_review_date_or_version() -> None:
    assert rules.agreement_problems(signed(), TODAY, V) == []
    assert rules.agreement_problems(signed(agreement_review_on=TODAY), TODAY, V) == []
    passed = rules.agreement_problems(signed(agreement_review_on=TODAY - timedelta(days=1)),
                                      TODAY, V)
    assert passed == ["agreement review date 2026-11-20 has passed"]
    old = rules.agreement_problems(signed(agreement_version="3.0"), TODAY, V)
    assert old == ["agreement version 3.0 is older than the current 3.1"]
    assert rules.agreement_problems(school(), TODAY, V) == []  # never signed: escalation's job


def test_protocol_problem_only_for_a_signed_old_version() -> None:
    assert rules.protocol_problem(signed(), V) is None
    assert rules.protocol_problem(school(), V) is None
    assert rules.protocol_problem(signed(protocol_version="1.0"), V) == \
        "protocol version 1.0 is older than the current 2.0"


def test_schools_without_a_named_dsl() -> None:
    assert rules.without_named_dsl([3, 1, 2, 2], [2, 9]) == [1, 3]


REQUESTED = date(2026, 9, 7)


@pytest.mark.parametrize(("confirmed_on", "today", "state"), [
    (None, REQUESTED, "awaiting"),
    (None, REQUESTED + timedelta(days=14), "awaiting"),  # the last day of the window
    (None, REQUESTED + timedelta(days=15), "suspended"),
    (date(2026, 4, 20), REQUESTED + timedelta(days=15), "suspended"),  # last term's answer
    (REQUESTED, REQUESTED + timedelta(days=90), "confirmed"),
    (REQUESTED + timedelta(days=30), REQUESTED + timedelta(days=31), "confirmed"),  # lifted
])
def test_unconfirmed_users_are_suspended_after_the_window(confirmed_on: date | None,
                                                         today: date, state: str) -> None:
    assert rules.confirmation(REQUESTED, confirmed_on, today, 14) == state
    assert rules.is_suspended(REQUESTED, confirmed_on, today, 14) is (state == "suspended")


def test_no_round_requested_suspends_nobody() -> None:
    assert rules.confirmation(None, None, TODAY, 0) == "not_requested"
