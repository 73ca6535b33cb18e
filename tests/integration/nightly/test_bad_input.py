"""Bad source data: each fault is named (table, column, row id), blocked where it could lose a
child, set aside or kept where it cannot, and never crashes the run or shows its value.

Each test damages a copy of the demo council with sqlite3, as a careless or broken Mosaic
view would, and runs the extract and the transform as plain functions."""

from __future__ import annotations

import logging
import shutil
import sqlite3
from datetime import date
from pathlib import Path

import pandas as pd
import pytest

from expectations import frames, suites
from expectations.gx_run import validate
from extract import SourceData, read_sources
from tests.support import AS_AT, Council
from transform import Databook, Rules, build_databook
from transform.errors import DataError
from transform.findings import BAD_INPUT, BLOCKING, RULES, Findings
from transform.integrity import whole_ids
from transform.staging import stage

#: A value no finding, log line or error may ever show: it stands for a child's name typed
#: into the wrong column.
SECRET = "Zebedee Quill"
FIRST_REFERRAL = "(SELECT MIN(REFERRAL_ID) FROM DM_CIN_REFERRALS)"
CHILD = "(SELECT PERSON_ID FROM DM_CIN_REFERRALS WHERE REFERRAL_ID = " + FIRST_REFERRAL + ")"
OPEN_SCHOOL = "(SELECT MIN(SCHOOL_URN) FROM EDU_SCHOOLS WHERE IS_OPEN = 'Y')"


def damaged(council: Council, folder: Path, source: str, *sql: str) -> tuple[str, str]:
    """Copies of the council's databases, one damaged by ``sql``. Each table a statement names
    is first rebuilt without its NOT NULL and key constraints, as a council's view has none."""
    folder.mkdir(parents=True, exist_ok=True)
    case, roll = folder / "case.sqlite", folder / "roll.sqlite"
    shutil.copy(council.case_path, case)
    shutil.copy(council.roll_path, roll)
    with sqlite3.connect(case if source == "case" else roll) as con:
        for statement in sql:
            words = statement.split()
            table = words[2] if words[0] == "INSERT" else words[1]
            con.execute(f"ALTER TABLE {table} RENAME TO {table}_0")
            con.execute(f"CREATE TABLE {table} AS SELECT * FROM {table}_0")
            con.execute(f"DROP TABLE {table}_0")
            con.execute(statement)
    return f"sqlite:///{case}", f"sqlite:///{roll}"


def build(urls: tuple[str, str], as_at: date = AS_AT) -> tuple[Databook, SourceData]:
    data = read_sources(*urls)
    return build_databook(data, Rules(as_at=as_at)), data


def found(book: Databook, rule: str) -> pd.DataFrame:
    return book.findings[book.findings["rule"] == rule]


def scalar(council: Council, sql: str, source: str = "case") -> int:
    with sqlite3.connect(council.case_path if source == "case" else council.roll_path) as con:
        return int(con.execute(sql).fetchone()[0])


def assert_blocks(book: Databook, tmp_path: Path, *rules: str) -> None:
    """The findings suite, through Great Expectations, fails exactly on ``rules``."""
    (suite,) = suites.load("findings", Rules(as_at=AS_AT))
    outcome = validate([(suite, frames.findings_frame(book))], {}, tmp_path / "gx")
    assert {c.column for c in outcome.blocking_failures} == set(rules)


@pytest.fixture(scope="module")
def clean(council: Council) -> Databook:
    return build((council.case_url, council.roll_url))[0]


def test_the_demo_council_has_no_bad_input(clean: Databook) -> None:
    assert not set(clean.findings["rule"]) & set(BAD_INPUT)
    assert set(BLOCKING) <= set(BAD_INPUT) <= set(RULES)


# keys that are NULL or not unique.

def test_a_person_with_a_null_person_id_blocks_instead_of_vanishing(
        council: Council, tmp_path: Path, clean: Databook) -> None:
    child = scalar(council, f"SELECT {CHILD}")
    assert child in set(clean.rows["person_id"])
    book, _ = build(damaged(council, tmp_path, "case",
                            f"UPDATE DM_PERSONS SET PERSON_ID = NULL WHERE PERSON_ID = {child}"))
    assert child not in set(book.rows["person_id"])
    missing = found(book, "missing-key")
    assert list(missing["table"]) == ["DM_PERSONS.PERSON_ID"]
    lost = found(book, "case-of-unknown-person")
    assert set(lost["person_id"]) == {child}
    assert scalar(council, f"SELECT {FIRST_REFERRAL}") in set(lost["record_id"])
    assert_blocks(book, tmp_path, "missing-key", "case-of-unknown-person")


def test_a_referral_with_no_person_is_named_and_blocks(council: Council, tmp_path: Path) -> None:
    book, _ = build(damaged(council, tmp_path, "case",
                            "UPDATE DM_CIN_REFERRALS SET PERSON_ID = NULL "
                            f"WHERE REFERRAL_ID = {FIRST_REFERRAL}"))
    missing = found(book, "missing-key")
    assert list(missing["table"]) == ["DM_CIN_REFERRALS.PERSON_ID"]
    assert list(missing["record_id"]) == [scalar(council, f"SELECT {FIRST_REFERRAL}")]


@pytest.mark.parametrize(("table", "key", "blocks"), [
    ("LA_PERSON_WARNINGS", "WARNING_ID", True),       # could show a withheld address
    ("DM_PERSON_REFERENCES", "REFERENCE_ID", True),   # matching relies on it
    ("DM_ADDRESSES", "REF_ADDRESSES_PEOPLE_ID", False),
])
def test_rows_read_only_for_case_people_with_no_person_are_still_named(
        council: Council, tmp_path: Path, table: str, key: str, blocks: bool) -> None:
    first = scalar(council, f"SELECT MIN({key}) FROM {table}")
    book, _ = build(damaged(council, tmp_path, "case",
                            f"UPDATE {table} SET PERSON_ID = NULL WHERE {key} = {first}"))
    rule = "missing-key" if blocks else "missing-link"
    rows = found(book, rule)
    assert list(rows["table"]) == [f"{table}.PERSON_ID"] and list(rows["record_id"]) == [first]
    assert (rule in BLOCKING) == blocks


def test_a_duplicated_enrolment_id_is_named_and_blocks(council: Council, tmp_path: Path) -> None:
    first = scalar(council, "SELECT MIN(ENROLMENT_ID) FROM EDU_ENROLMENTS", "roll")
    book, _ = build(damaged(council, tmp_path, "roll",
                            "INSERT INTO EDU_ENROLMENTS SELECT * FROM EDU_ENROLMENTS "
                            f"WHERE ENROLMENT_ID = {first}"))
    rows = found(book, "duplicate-key")
    assert list(rows["record_id"]) == [first, first]
    assert set(rows["table"]) == {"EDU_ENROLMENTS.ENROLMENT_ID"}
    assert_blocks(book, tmp_path, "duplicate-key")


@pytest.mark.parametrize("bad", ["'abc'", "12.5"])
def test_an_education_id_that_is_not_a_whole_number_is_named_and_blocks(
        council: Council, tmp_path: Path, bad: str) -> None:
    first = scalar(council, "SELECT MIN(ENROLMENT_ID) FROM EDU_ENROLMENTS", "roll")
    book, _ = build(damaged(council, tmp_path, "roll",
                            f"UPDATE EDU_ENROLMENTS SET EDU_PERSON_ID = {bad} "
                            f"WHERE ENROLMENT_ID = {first}"))
    rows = found(book, "missing-key")
    assert list(rows["table"]) == ["EDU_ENROLMENTS.EDU_PERSON_ID"]
    assert list(rows["record_id"]) == [first]


# bad data that crashed the run mid-flow.

def test_no_pupil_matching_any_person_is_one_clear_error(council: Council,
                                                          tmp_path: Path) -> None:
    urls = damaged(council, tmp_path, "roll",
                   "UPDATE EDU_ENROLMENTS SET UPN = NULL, EDU_PERSON_ID = EDU_PERSON_ID + 1e9")
    with pytest.raises(DataError, match="no pupil on the roll matches any case person"):
        build(urls)


def test_an_as_at_date_before_any_record_is_one_clear_error(council: Council) -> None:
    with pytest.raises(DataError, match="had started by the as-at date 1990-01-01"):
        build((council.case_url, council.roll_url), date(1990, 1, 1))


@pytest.mark.parametrize("urn", ["NULL", f"'{SECRET}'"])
def test_an_open_school_with_no_usable_urn_is_named_and_cannot_publish(
        council: Council, tmp_path: Path, urn: str, caplog: pytest.LogCaptureFixture) -> None:
    gone = scalar(council, f"SELECT {OPEN_SCHOOL}", "roll")
    with caplog.at_level(logging.INFO):
        book, _ = build(damaged(council, tmp_path, "roll",
                                f"UPDATE EDU_SCHOOLS SET SCHOOL_URN = {urn} "
                                f"WHERE SCHOOL_URN = {gone}"))
    assert gone not in set(book.schools["urn"])
    assert list(found(book, "school-without-urn")["table"]) == ["EDU_SCHOOLS.SCHOOL_URN"]
    assert "DfE number(s) 830/" in caplog.text and SECRET not in caplog.text
    assert_blocks(book, tmp_path, "missing-key", "school-without-urn")


CASE_PEOPLE = "PERSON_ID IN (SELECT PERSON_ID FROM DM_CIN_REFERRALS)"


@pytest.mark.parametrize(("table", "column", "key", "only", "rule"), [
    ("DM_PERSONS", "DATE_OF_BIRTH", "PERSON_ID", CASE_PEOPLE, "not-a-date"),
    ("DM_ADDRESSES", "END_DATE", "REF_ADDRESSES_PEOPLE_ID", CASE_PEOPLE, "not-a-date"),
    ("DM_REGISTRATIONS", "DEREGISTRATION_DATE", "REGISTRATION_ID",
     "IS_CHILD_PROTECTION_PLAN = 'Y'", "deciding-date-not-a-date"),
    ("DM_CIN_REFERRALS", "REFERRAL_DATE", "REFERRAL_ID", "1 = 1", "deciding-date-not-a-date"),
])
def test_text_in_a_date_column_is_named_never_shown(
        council: Council, tmp_path: Path, caplog: pytest.LogCaptureFixture, table: str,
        column: str, key: str, only: str, rule: str) -> None:
    where = f"{key} = (SELECT MIN({key}) FROM {table} WHERE {only})"
    row = scalar(council, f"SELECT {key} FROM {table} WHERE {where}")
    with caplog.at_level(logging.INFO):
        book, data = build(damaged(council, tmp_path, "case",
                                   f"UPDATE {table} SET {column} = '{SECRET}' WHERE {where}"))
    rows = found(book, rule)
    assert list(rows["table"]) == [f"{table}.{column}"] and list(rows["record_id"]) == [row]
    assert (rule in BLOCKING) == (table != "DM_PERSONS" and table != "DM_ADDRESSES")
    assert SECRET not in caplog.text and SECRET not in book.findings.to_csv()
    assert not data[table][column].astype("string").str.contains(SECRET, na=False).any()
    if table == "DM_PERSONS":
        assert book.rows.loc[book.rows["person_id"] == row, "date_of_birth"].isna().all()
        assert row not in set(found(book, "missing-date-of-birth")["person_id"])


def test_an_unreadable_end_date_never_makes_a_closed_row_look_open(
        council: Council, tmp_path: Path) -> None:
    """An address whose end date cannot be read is left out, not taken as current."""
    ended = scalar(council, "SELECT MIN(REF_ADDRESSES_PEOPLE_ID) FROM DM_ADDRESSES "
                            f"WHERE END_DATE IS NOT NULL AND END_DATE <= '{AS_AT}' "
                            f"AND {CASE_PEOPLE}")
    book, data = build(damaged(council, tmp_path, "case",
                               f"UPDATE DM_ADDRESSES SET END_DATE = 'soon' "
                               f"WHERE REF_ADDRESSES_PEOPLE_ID = {ended}"))
    assert list(found(book, "not-a-date")["record_id"]) == [ended]
    assert ended in set(whole_ids(data["DM_ADDRESSES"]["REF_ADDRESSES_PEOPLE_ID"]))
    staged = stage(data, Rules(as_at=AS_AT), Findings())
    assert ended not in set(staged.addresses["id"])


# impossible values, named instead of an anonymous warning.

@pytest.mark.parametrize(("sql", "rule", "table"), [
    ("UPDATE DM_PERSONS SET DATE_OF_BIRTH = '2090-01-01 00:00:00.000000' "
     f"WHERE PERSON_ID = {CHILD}", "date-of-birth-after-as-at", "DM_PERSONS"),
    ("UPDATE DM_PERSONS SET DATE_OF_BIRTH = '1826-01-01 00:00:00.000000' "
     f"WHERE PERSON_ID = {CHILD}", "age-over-25", "DM_PERSONS"),
    ("UPDATE DM_PERSONS SET DATE_OF_BIRTH = '1826-01-01 00:00:00.000000' "
     f"WHERE PERSON_ID = {CHILD}", "placeholder-date", "DM_PERSONS.DATE_OF_BIRTH"),
    (f"UPDATE DM_PERSONS SET FIRST_NAME = '{'A' * 300}' WHERE PERSON_ID = {CHILD}",
     "text-too-long", "DM_PERSONS.FIRST_NAME"),
    (f"UPDATE DM_PERSONS SET FIRST_NAME = '  ', LAST_NAME = ' ' WHERE PERSON_ID = {CHILD}",
     "missing-name", "DM_PERSONS"),
    (f"UPDATE DM_CIN_REFERRALS SET REFERRAL_ID = -REFERRAL_ID "
     f"WHERE REFERRAL_ID = {FIRST_REFERRAL}", "negative-id", "DM_CIN_REFERRALS.REFERRAL_ID"),
])
def test_an_impossible_value_names_the_record(council: Council, tmp_path: Path, sql: str,
                                              rule: str, table: str) -> None:
    child = scalar(council, f"SELECT {CHILD}")
    book, _ = build(damaged(council, tmp_path, "case", sql))
    rows = found(book, rule)
    assert list(rows["table"]) == [table]
    assert set(rows["person_id"]) == {child}
    assert not set(rows["rule"]) & set(BLOCKING)


def test_an_open_school_with_no_dfe_number_is_named(council: Council, tmp_path: Path) -> None:
    urn = scalar(council, f"SELECT {OPEN_SCHOOL}", "roll")
    book, _ = build(damaged(council, tmp_path, "roll",
                            f"UPDATE EDU_SCHOOLS SET DFE_NUMBER = '  ' WHERE SCHOOL_URN = {urn}"))
    assert list(found(book, "school-without-dfe-number")["record_id"]) == [urn]
    assert urn in set(book.schools["urn"])
