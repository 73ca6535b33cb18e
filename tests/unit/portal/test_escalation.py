"""The escalation report: the Education Board's list with dates, then the register's other gaps."""

from __future__ import annotations

import csv
import io
from datetime import date

from portal.registers.escalation import as_csv, as_table, report
from portal.registers.record import SchoolRecord, Versions
from schemas.registers import ENDED_UNRESOLVED, ESCALATION_COLUMNS, IN_CONVERSATION

TODAY = date(2026, 11, 21)
V = Versions(protocol="1.0", agreement="2.0")
LETTERS = (date(2026, 9, 1), date(2026, 10, 1))
SIGNED = dict(protocol_signed_on=date(2025, 9, 1), protocol_signatory_title="Headteacher",
              protocol_version="1.0", agreement_signed_on=date(2025, 9, 1),
              agreement_version="2.0", agreement_review_on=date(2028, 9, 1))
REGISTER = [
    SchoolRecord(urn=112051, name="Silent", letters=LETTERS),
    SchoolRecord(urn=112000, name="Ended", letters=(*LETTERS, date(2026, 11, 1)),
                 contact_status=ENDED_UNRESOLVED),
    SchoolRecord(urn=112017, name="Talking", letters=LETTERS, contact_status=IN_CONVERSATION),
    SchoolRecord(urn=112034, name="Good", **SIGNED),  # type: ignore[arg-type]
    SchoolRecord(urn=112068, name="Lapsed",
                 **SIGNED | {"agreement_review_on": date(2026, 10, 31)}),  # type: ignore[arg-type]
    SchoolRecord(urn=112085, name="Old", **SIGNED | {"agreement_version": "1.5",  # type: ignore[arg-type]
                                                     "protocol_version": "0.9"}),
]


def test_each_list_in_order_with_its_dates() -> None:
    lines = report(REGISTER, TODAY, V, urns_with_dsl=[112034, 112068, 112085, 112017])
    assert [(ln.kind, ln.urn) for ln in lines] == [
        ("requires_escalation", 112000), ("requires_escalation", 112051),
        ("protocol_out_of_date", 112085),
        ("agreement_out_of_date", 112068), ("agreement_out_of_date", 112085),
        ("no_named_dsl", 112000), ("no_named_dsl", 112051),
    ]
    ended = lines[0]
    assert (ended.first_letter_on, ended.second_letter_on, ended.since) == \
        (date(2026, 9, 1), date(2026, 10, 1), date(2026, 10, 1))
    assert ended.detail == ("protocol and agreement not returned after two letters; "
                            "conversation ended without resolution")
    assert lines[3].since == date(2026, 10, 31)
    assert lines[3].detail == "agreement review date 2026-10-31 has passed"
    assert lines[4].detail == "agreement version 1.5 is older than the current 2.0"
    assert lines[2].detail.endswith("the school cannot download")


def test_without_the_users_the_dsl_list_is_left_out_not_guessed() -> None:
    assert "no_named_dsl" not in {ln.kind for ln in report(REGISTER, TODAY, V)}


def test_csv_has_the_documented_columns_and_a_row_per_line() -> None:
    lines = report(REGISTER, TODAY, V)
    rows = list(csv.reader(io.StringIO(as_csv(lines))))
    assert tuple(rows[0]) == ESCALATION_COLUMNS
    assert rows[1][:8] == ["requires_escalation", "112000", "Ended", "2026-09-01",
                           "2026-10-01", "ended_unresolved", "2026-10-01", rows[1][7]]
    assert len(rows) == 1 + len(lines)


def test_table_aligns_and_says_so_when_there_is_nothing() -> None:
    table = as_table(report(REGISTER, TODAY, V)).splitlines()
    assert table[0].split() == list(ESCALATION_COLUMNS)
    assert table[1].index("112000") == table[0].index("urn")
    assert as_table([]) == "no school needs escalation, and no agreement is out of date\n"


def test_schools_of_the_latest_run_with_nobody_named_need_action_too() -> None:
    """As the council's schools page counts them: a school in the latest run with
    nobody named is on the list, on the register or not; a named one is not."""
    run = {112034: "Good", 112099: "Only In The Run", 112100: "Named, Not Registered"}
    lines = report(REGISTER, TODAY, V, urns_with_dsl=[112034, 112068, 112085, 112017, 112100],
                   run_schools=run)
    nobody = [(ln.urn, ln.name) for ln in lines if ln.kind == "no_named_dsl"]
    assert nobody == [(112000, "Ended"), (112051, "Silent"), (112099, "Only In The Run")]
    assert lines[-1].detail.endswith("in the latest run but not on the register")
    assert lines[-1].cells()[3:7] == ["", "", "", ""]
