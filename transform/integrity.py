"""Bad input, found before any rule runs: keys that are empty, duplicated or not numbers,
cells that are not dates, text longer than its column, placeholder dates, rows that name no
person, and implausible people and schools.

A council's Mosaic extract is messy in ways no code path should discover by crashing. Each
fault becomes a finding naming the table (and column), the row's id and the person's id,
never the value, which could be a child's name typed into the wrong column. Whether a fault
blocks publishing is the finding's rule (``findings.BLOCKING``): it blocks where it could lose
a child; otherwise the row is left out or kept as read, and a person is told.
"""

from __future__ import annotations

import logging

import pandas as pd

from extract import SourceData
from extract.read import NO_PERSON, NOT_A_DATE
from schemas.source import (
    DECIDING_DATE_TABLES,
    LINK_COLUMNS,
    NULLABLE_LINKS,
    date_columns,
    primary_key,
    text_lengths,
)
from transform.findings import Findings

log = logging.getLogger(__name__)

#: Dates before this are placeholders ("unknown" typed as 1900-01-01), not facts.
EARLIEST_DATE = pd.Timestamp("1901-01-01")
OLDEST_AGE_YEARS = 25


def whole_ids(values: pd.Series) -> pd.Series:
    """Ids as ``Int64``: anything that is not a whole number (text, a fraction) is missing."""
    if pd.api.types.is_integer_dtype(values.dtype):
        return values.astype("Int64")  # the common case, and the fast one
    numbers = pd.to_numeric(values, errors="coerce")
    numbers = numbers.where(numbers.notna() & (numbers % 1 == 0) & (numbers.abs() < 10**16))
    return numbers.astype("Int64")


def _rows(frame: pd.DataFrame, table: str, mask: pd.Series) -> pd.DataFrame:
    """The masked rows as (id, person_id): the row's key and its person, both as ids."""
    if not mask.any():
        return pd.DataFrame({"id": pd.array([], dtype="Int64")})
    frame = frame[mask]
    mask = pd.Series(True, index=frame.index)
    ids = whole_ids(frame[primary_key(table)])
    person = whole_ids(frame["PERSON_ID"]) if "PERSON_ID" in frame else pd.Series(
        pd.NA, index=frame.index, dtype="Int64")
    return pd.DataFrame({"id": ids[mask], "person_id": person[mask]})


def check_keys(table: str, frame: pd.DataFrame, findings: Findings) -> None:
    """Primary key: present, a whole number and unique; link columns: present (unless the row
    is identified another way) and whole numbers; ids above zero."""
    key = primary_key(table)
    raw = frame[key]
    ids = whole_ids(raw)
    findings.add("missing-key", f"{table}.{key}", _rows(frame, table, ids.isna()))
    duplicated = ids.notna() & ids.duplicated(keep=False)
    findings.add("duplicate-key", f"{table}.{key}", _rows(frame, table, duplicated))
    findings.add("negative-id", f"{table}.{key}", _rows(frame, table, ids.notna() & (ids <= 0)))
    for column, blocking in LINK_COLUMNS.get(table, {}).items():
        if column not in frame:
            continue
        values = whole_ids(frame[column])
        bad = values.isna() & frame[column].notna()
        if (table, column) not in NULLABLE_LINKS:
            bad |= frame[column].isna()
        rule = "missing-key" if blocking else "missing-link"
        findings.add(rule, f"{table}.{column}", _rows(frame, table, bad))
        findings.add("negative-id", f"{table}.{column}",
                     _rows(frame, table, values.notna() & (values <= 0)))


def check_cells(table: str, frame: pd.DataFrame, findings: Findings) -> None:
    """Text longer than its column; dates before 1901 (placeholders)."""
    for column, length in text_lengths(table).items():
        if column in frame:
            text = frame[column].astype("string")
            findings.add("text-too-long", f"{table}.{column}",
                         _rows(frame, table, (text.str.len() > length).fillna(False)))
    for column in date_columns(table):
        if column in frame:
            early = (pd.to_datetime(frame[column]) < EARLIEST_DATE).fillna(False)
            findings.add("placeholder-date", f"{table}.{column}", _rows(frame, table, early))


def check_issues(data: SourceData, findings: Findings) -> None:
    """What the extract could not read: cells that are not dates, rows that name no person."""
    for issue in data.issues:
        one = pd.DataFrame({"id": whole_ids(pd.Series([issue.record_id], dtype="object")),
                            "person_id": pd.array([pd.NA], dtype="Int64")})
        if issue.kind == NOT_A_DATE:
            frame = data[issue.table]
            match = frame[primary_key(issue.table)].astype("object") == issue.record_id
            if "PERSON_ID" in frame and match.any():
                one["person_id"] = whole_ids(frame.loc[match, "PERSON_ID"]).iloc[:1].to_numpy()
            rule = ("deciding-date-not-a-date" if issue.table in DECIDING_DATE_TABLES
                    else "not-a-date")
        elif issue.kind == NO_PERSON:
            blocking = issue.table == "DM_PERSONS" or LINK_COLUMNS[issue.table]["PERSON_ID"]
            rule = "missing-key" if blocking else "missing-link"
        else:
            raise ValueError(f"unknown source issue kind {issue.kind!r}")
        findings.add(rule, f"{issue.table}.{issue.column}", one)


def check_source(data: SourceData, findings: Findings) -> None:
    for table, frame in data.tables.items():
        check_keys(table, frame, findings)
        check_cells(table, frame, findings)
    check_issues(data, findings)


def unreadable_rows(data: SourceData, table: str) -> set[int]:
    """Row ids in ``table`` with a date the extract could not read: they are left out."""
    ids = whole_ids(pd.Series([i.record_id for i in data.issues
                               if i.kind == NOT_A_DATE and i.table == table], dtype="object"))
    return {int(i) for i in ids.dropna()}


def check_people(persons: pd.DataFrame, as_at: pd.Timestamp, findings: Findings) -> None:
    """Implausible people, named by person id: born after the as-at date, older than any
    child the databook is for, or with no name at all."""
    dob = persons["date_of_birth"]
    findings.add("date-of-birth-after-as-at", "DM_PERSONS", persons[dob > as_at],
                 record_id="person_id")
    too_old = dob < as_at - pd.DateOffset(years=OLDEST_AGE_YEARS)
    findings.add("age-over-25", "DM_PERSONS", persons[too_old.fillna(False)],
                 record_id="person_id")
    nameless = persons["first_name"].isna() & persons["last_name"].isna()
    findings.add("missing-name", "DM_PERSONS", persons[nameless], record_id="person_id")


def check_case_people(persons: pd.DataFrame, case_tables: dict[str, pd.DataFrame],
                      findings: Findings) -> None:
    """Case records whose person is not in ``DM_PERSONS``: the child would silently vanish."""
    known = set(persons["person_id"].dropna())
    for table, rows in case_tables.items():
        lost = rows["person_id"].notna() & ~rows["person_id"].isin(known)
        findings.add("case-of-unknown-person", table, rows[lost])


def check_schools(schools: pd.DataFrame, raw: pd.DataFrame, findings: Findings) -> None:
    """An open school with no URN cannot be published (its file is named by URN); one with no
    DfE number is published with it blank. A school's DfE number is public, so the log names
    the school a person must fix."""
    open_ = schools["is_open"]
    no_urn = open_ & schools["urn"].isna()
    findings.add("school-without-urn", "EDU_SCHOOLS.SCHOOL_URN",
                 schools[no_urn], record_id=None, person_id=None)
    if no_urn.any():
        log.warning("open school(s) with no usable URN, not published: DfE number(s) %s",
                    ", ".join(str(d) for d in raw.loc[no_urn, "DFE_NUMBER"].tolist()))
    findings.add("school-without-dfe-number", "EDU_SCHOOLS.DFE_NUMBER",
                 schools[open_ & schools["urn"].notna() & schools["dfe_number"].isna()],
                 record_id="urn", person_id=None)
