"""The Changes sheet's rules, one at a time, on hand-made published rows."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import pytest

from schemas import codes
from schemas.changes import BALANCE_COLUMNS, CHANGE_HEADERS, ChangeKind
from schemas.databook import FLAG_DATES, KEYS
from transform.row_changes import (
    Change,
    Previous,
    Row,
    balance,
    compare,
    digests_differ,
    rows_digest,
    school_changes,
)

WITHHELD = "Address withheld \N{EN DASH} contact Starting Point"
PREVIOUS = Previous("20261120T020000.000000Z-abcdef", date(2026, 11, 20), 1)


def row(**values: Any) -> Row:
    """A published row for one child: closed case, no indicators, unless told otherwise."""
    base: dict[str, Any] = {
        "upn": "A123456789012", "name": "Amy Example", "date_of_birth": date(2015, 3, 1),
        "principal_address": "1 Test Street, Matlock", "case_status": "Closed",
        "social_worker": "Starting Point", "social_worker_phone": "01629 533190",
        "cautions": None,
    }
    base |= {flag: codes.NO for flag, _ in FLAG_DATES}
    base |= values
    for flag, day in FLAG_DATES:
        if day in values and values[day] is not None and flag not in values:
            base[flag] = codes.YES
    return tuple(base.get(k) for k in KEYS)


def kinds(changes: tuple[Change, ...]) -> list[ChangeKind]:
    return [c.kind for c in changes]


def test_identical_rows_have_no_changes() -> None:
    assert compare([row()], [row()], WITHHELD) == ()


def test_first_databook_lists_nothing_and_is_not_balanced() -> None:
    first = school_changes(None, [], [row()], WITHHELD)
    assert first.previous is None and first.changes == ()
    assert balance(112000, first, 1) is None


def test_joined_and_left_name_the_child() -> None:
    stays = row(upn="S000000000001", name="Sam Stays")
    new = row(upn="N000000000001", name="Nia New")
    gone = row(upn="G000000000001", name="Gus Gone")
    changes = compare([stays, gone], [new, stays], WITHHELD)
    assert [c.as_row() for c in changes] == [
        ("N000000000001", "Nia New", "Joined this school's databook", None, None),
        ("G000000000001", "Gus Gone", "Left this school's databook", None, None),
    ]
    assert len(changes[0].as_row()) == len(CHANGE_HEADERS)


def test_balance_adds_up_and_a_wrong_previous_count_does_not() -> None:
    before = [row(upn=f"U{i:012d}") for i in range(5)]
    after = before[2:] + [row(upn=f"V{i:012d}") for i in range(4)]
    counted = school_changes(Previous("r", date(2026, 11, 20), 5), before, after, WITHHELD)
    line = balance(112000, counted, len(after))
    assert line is not None and set(line) == set(BALANCE_COLUMNS)
    assert (line["joined"], line["left"], line["net_rows"], line["net_joined"]) == (4, 2, 2, 2)
    short = school_changes(Previous("r", date(2026, 11, 20), 6), before, after, WITHHELD)
    wrong = balance(112000, short, len(after))
    assert wrong is not None and wrong["net_rows"] != wrong["net_joined"]


def test_cp_plan_started_shows_its_start_date() -> None:
    changes = compare([row()], [row(cp_start_date=date(2026, 11, 20), case_status="Open")],
                      WITHHELD)
    assert [c.as_row()[2:] for c in changes] == [
        ("Child protection plan started", None, date(2026, 11, 20))]


def test_cp_plan_ended_shows_the_published_end_date() -> None:
    on_plan = row(cp_start_date=date(2025, 1, 6))
    ended = row(previous_cp_date=date(2025, 1, 6), previous_cp_end_date=date(2026, 11, 19))
    assert [(c.kind, c.before, c.after) for c in compare([on_plan], [ended], WITHHELD)] == [
        (ChangeKind.CP_ENDED, date(2025, 1, 6), date(2026, 11, 19))]


def test_a_new_plan_in_place_of_an_old_one_is_an_end_and_a_start() -> None:
    old = row(cp_start_date=date(2025, 1, 6))
    new = row(cp_start_date=date(2026, 11, 18), previous_cp_date=date(2025, 1, 6),
              previous_cp_end_date=date(2026, 11, 17))
    assert kinds(compare([old], [new], WITHHELD)) == [ChangeKind.CP_STARTED, ChangeKind.CP_ENDED]


@pytest.mark.parametrize(("day", "started", "ended"), [
    ("lac_start_date", ChangeKind.LAC_STARTED, ChangeKind.LAC_ENDED),
    ("cin_start_date", ChangeKind.CIN_STARTED, ChangeKind.CIN_ENDED),
])
def test_care_and_need_start_and_end(day: str, started: ChangeKind, ended: ChangeKind) -> None:
    on = row(**{day: date(2026, 6, 1)})
    assert [(c.kind, c.before, c.after) for c in compare([row()], [on], WITHHELD)] == [
        (started, None, date(2026, 6, 1))]
    assert [(c.kind, c.before, c.after) for c in compare([on], [row()], WITHHELD)] == [
        (ended, date(2026, 6, 1), None)]


def test_moving_from_need_to_a_plan_reports_both() -> None:
    need = row(cin_start_date=date(2026, 5, 1))
    plan = row(cp_start_date=date(2026, 11, 20))
    assert kinds(compare([need], [plan], WITHHELD)) == [ChangeKind.CP_STARTED,
                                                        ChangeKind.CIN_ENDED]


def test_new_domestic_abuse_notification() -> None:
    first = row(dv_notification_date=date(2026, 10, 1))
    later = row(dv_notification_date=date(2026, 11, 20))
    assert [(c.kind, c.before, c.after) for c in compare([row()], [first], WITHHELD)] == [
        (ChangeKind.DV_NEW, None, date(2026, 10, 1))]
    assert [(c.kind, c.before, c.after) for c in compare([first], [later], WITHHELD)] == [
        (ChangeKind.DV_NEW, date(2026, 10, 1), date(2026, 11, 20))]
    assert compare([first], [first], WITHHELD) == ()
    assert compare([first], [row()], WITHHELD) == ()  # aged out of the look-back: not news


def test_social_worker_and_number_changes() -> None:
    jo = row(social_worker="Jo Worker", social_worker_phone="01629 000001")
    sam = row(social_worker="Sam Worker", social_worker_phone="01629 000002")
    new_number = row(social_worker="Jo Worker", social_worker_phone="07700 900123")
    assert [c.as_row()[2:] for c in compare([jo], [sam], WITHHELD)] == [
        ("Social worker changed", "Jo Worker", "Sam Worker"),
        ("Social worker telephone changed", "01629 000001", "01629 000002")]
    assert [c.as_row()[2:] for c in compare([jo], [new_number], WITHHELD)] == [
        ("Social worker telephone changed", "01629 000001", "07700 900123")]


def test_cautions_added_and_removed_one_row_each() -> None:
    before = row(cautions="Risk of violence; Animals at the property")
    after = row(cautions="Information not to be disclosed; Risk of violence; Unsafe premises")
    assert [c.as_row()[2:] for c in compare([before], [after], WITHHELD)] == [
        ("Caution added", None, "Information not to be disclosed"),
        ("Caution added", None, "Unsafe premises"),
        ("Caution removed", "Animals at the property", None)]
    assert kinds(compare([before], [row()], WITHHELD)) == [ChangeKind.CAUTION_REMOVED] * 2


def test_address_now_withheld_never_repeats_the_old_address() -> None:
    before = row(principal_address="9 Secret Lane, Buxton")
    after = row(principal_address=WITHHELD)
    changes = compare([before], [after], WITHHELD)
    assert [(c.kind, c.before, c.after) for c in changes] == [
        (ChangeKind.ADDRESS_WITHHELD, None, WITHHELD)]
    assert not any("Secret Lane" in str(v) for c in changes for v in c.as_row())


def test_address_no_longer_withheld_shows_the_address() -> None:
    changes = compare([row(principal_address=WITHHELD)], [row()], WITHHELD)
    assert [(c.kind, c.before, c.after) for c in changes] == [
        (ChangeKind.ADDRESS_NOT_WITHHELD, WITHHELD, "1 Test Street, Matlock")]


def test_changes_outside_the_list_are_not_reported() -> None:
    """A new name, birth date or (not withheld) address is in the Databook sheet; the Changes
    sheet lists only the issue's kinds of change."""
    moved = row(principal_address="2 Other Road, Bakewell", name="Amy Renamed",
                date_of_birth=date(2015, 3, 2))
    assert compare([row()], [moved], WITHHELD) == ()


def test_a_child_without_upn_is_matched_by_name_and_birth_date() -> None:
    before = row(upn=None, social_worker="Jo Worker")
    after = row(upn=None, social_worker="Sam Worker")
    assert kinds(compare([before], [after], WITHHELD)) == [ChangeKind.WORKER_CHANGED]
    other = row(upn=None, date_of_birth=date(2016, 1, 1))
    assert kinds(compare([before], [other], WITHHELD)) == [ChangeKind.JOINED, ChangeKind.LEFT]


def test_a_upn_seen_twice_is_paired_in_order_and_still_balances() -> None:
    twins = [row(name="Ann Twin"), row(name="Bea Twin")]
    changes = school_changes(Previous("r", date(2026, 11, 20), 2), twins, twins[:1], WITHHELD)
    assert [(c.kind, c.name) for c in changes.changes] == [(ChangeKind.LEFT, "Bea Twin")]
    line = balance(1, changes, 1)
    assert line is not None and line["net_rows"] == line["net_joined"] == -1


def test_values_read_back_from_a_workbook_compare_equal() -> None:
    """A datetime from openpyxl, an empty cell for empty text, control characters dropped by
    the writer: none of them is a change."""
    written = row(name="Amy\x07 Example", cautions="")
    read_back = row(name="Amy Example", cautions=None)
    as_read = tuple(datetime(2015, 3, 1) if v == date(2015, 3, 1) else v for v in read_back)
    assert compare([as_read], [written], WITHHELD) == ()


def test_digest_is_keyed_order_free_and_sees_any_value() -> None:
    rows = [row(upn="A000000000001"), row(upn="B000000000002", cautions="Risk of violence")]
    key = b"k" * 32
    digest = rows_digest(rows, key)
    assert rows_digest(list(reversed(rows)), key) == digest
    assert rows_digest(rows, b"j" * 32) != digest
    assert rows_digest([rows[0], row(upn="B000000000002")], key) != digest
    assert rows_digest([rows[0]], key) != digest
    assert rows_digest([], key) != rows_digest([row()], key)


def test_digests_differ_without_a_digest_to_compare() -> None:
    assert digests_differ({"rows_digest": "ab"}, "ab") is False
    assert digests_differ({"rows_digest": "ab"}, "cd") is True
    assert digests_differ({"urn": 1}, "ab") is True  # a manifest from before digests
    assert digests_differ(None, "ab") is True


def test_a_row_of_the_wrong_width_is_refused() -> None:
    with pytest.raises(ValueError, match="schema's columns"):
        compare([row()[:-1]], [row()], WITHHELD)
