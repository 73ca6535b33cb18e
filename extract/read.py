"""Run the queries and hand back plain DataFrames, one per source table."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field

import pandas as pd
from sqlalchemy import Connection, Select, func, select

from extract import columnar
from extract.connect import connected, describe, open_engine, parse_url
from extract.contract import check_columns
from extract.errors import SourceError
from extract.queries import (
    CASE_COLUMNS,
    ROLL_COLUMNS,
    ExtractFilters,
    case_queries,
    needed_columns,
    personless_queries,
    roll_queries,
)
from schemas import source as s
from schemas.source import date_columns, primary_key

log = logging.getLogger(__name__)

CASE = "case database"
ROLL = "school roll"


#: A cell that is not a date although its column is one.
NOT_A_DATE = "not-a-date"
#: A row, in a table read only for case people, whose ``PERSON_ID`` is NULL.
NO_PERSON = "no-person"


@dataclass(frozen=True)
class SourceIssue:
    """Something the extract could not read as the contract says: where it is (table, column,
    the row's primary key), never what the cell holds, which could be a child's name."""

    kind: str
    table: str
    column: str
    record_id: object


@dataclass(frozen=True)
class SourceData:
    """What the extract read: one frame per table, columns as named in the source contract;
    a date column that held something else reads as missing there, and is listed in
    ``issues``."""

    tables: Mapping[str, pd.DataFrame]
    issues: tuple[SourceIssue, ...] = field(default=())

    def __getitem__(self, table: str) -> pd.DataFrame:
        return self.tables[table]

    @property
    def row_counts(self) -> dict[str, int]:
        """A fingerprint of the source, safe to log and to write into a manifest."""
        return {name: len(frame) for name, frame in sorted(self.tables.items())}


def parse_dates(values: pd.Series) -> pd.Series:
    """Dates as the driver gave them (datetimes, or ISO text from SQLite) as ``datetime64``;
    anything else becomes missing, never an exception carrying the value."""
    return pd.to_datetime(values, errors="coerce", format="ISO8601").astype("datetime64[us]")


def read_dates(table: str, frame: pd.DataFrame) -> list[SourceIssue]:
    """Parse the frame's date columns in place; list the cells that were not dates."""
    issues = []
    key = primary_key(table)
    for column in date_columns(table):
        if column not in frame:
            continue
        parsed = parse_dates(frame[column])
        bad = frame[column].notna() & parsed.isna()
        issues += [SourceIssue(NOT_A_DATE, table, column, rid)
                   for rid in frame.loc[bad, key].tolist()]
        frame[column] = parsed
    return issues


def _read(conn: Connection, queries: Mapping[str, Select[tuple[object, ...]]],
          columns: Mapping[str, tuple[str, ...]],
          issues: list[SourceIssue],
          fast: columnar.Reader | None = None) -> dict[str, pd.DataFrame]:
    """Each table through Arrow where ``fast`` can (``extract.columnar``), else as plain tuples
    (pandas inspects a SQLAlchemy ``Row`` several times over, a third of the time)."""
    frames = {}
    for table, query in queries.items():
        frame = None if fast is None else fast.frame(table, query)
        if frame is None:
            rows = [tuple(row) for row in conn.execute(query)]
            frame = pd.DataFrame.from_records(rows, columns=list(columns[table]))
        issues += read_dates(table, frame)
        frames[table] = frame
    return frames


def _personless(conn: Connection) -> list[SourceIssue]:
    return [SourceIssue(NO_PERSON, table, "PERSON_ID", rid)
            for table, query in personless_queries().items()
            for (rid,) in conn.execute(query).all()]


@contextmanager
def checked(url: str, label: str, columns: Mapping[str, tuple[str, ...]]) -> Iterator[Connection]:
    """A connection to a source that is reachable, has every needed column and (for the roll)
    is not empty; anything else is a one-line ``SourceError``."""
    engine = open_engine(url, label)
    try:
        with connected(engine, label) as conn:
            check_columns(conn, needed_columns(columns), label)
            if label == ROLL:
                refuse_empty_roll(conn, describe(engine.url))
            yield conn
    finally:
        engine.dispose()


def read_source(url: str, label: str, queries: Mapping[str, Select[tuple[object, ...]]],
                columns: Mapping[str, tuple[str, ...]],
                issues: list[SourceIssue] | None = None) -> dict[str, pd.DataFrame]:
    issues = [] if issues is None else issues
    with checked(url, label, columns) as conn, columnar.reader(conn.engine) as fast:
        frames = _read(conn, queries, columns, issues, fast)
        if label == CASE:
            issues += _personless(conn)
        return frames


def check_sources(case_url: str, roll_url: str) -> None:
    """Fail fast, before any orchestration starts, when a source is unreachable, off-contract
    or has an empty roll."""
    for url, label, columns in ((case_url, CASE, CASE_COLUMNS), (roll_url, ROLL, ROLL_COLUMNS)):
        with checked(url, label, columns):
            pass


def refuse_empty_roll(conn: Connection, where: str) -> None:
    """An empty roll almost always means a broken feed; publishing it would blank every
    school's databook, so it stops the run instead."""
    open_schools = conn.execute(select(func.count()).select_from(s.EDU_SCHOOLS).where(
        func.upper(s.EDU_SCHOOLS.c.IS_OPEN) == "Y")).scalar_one()
    if not open_schools:
        raise SourceError(f"the {ROLL} at {where} has no open schools in EDU_SCHOOLS")
    if conn.execute(select(s.EDU_ENROLMENTS.c.ENROLMENT_ID).limit(1)).first() is None:
        raise SourceError(f"the {ROLL} at {where} has no rows in EDU_ENROLMENTS")


def read_sources(case_url: str, roll_url: str,
                 filters: ExtractFilters | None = None) -> SourceData:
    filters = filters or ExtractFilters()
    issues: list[SourceIssue] = []
    tables = read_source(case_url, CASE, case_queries(filters), CASE_COLUMNS, issues)
    tables |= read_source(roll_url, ROLL, roll_queries(), ROLL_COLUMNS, issues)
    data = SourceData(tables, tuple(issues))
    if data["DM_PERSONS"].empty:
        where = describe(parse_url(case_url, CASE))
        raise SourceError(f"the {CASE} at {where} has nobody with a social care record")
    log.info("extracted %s", ", ".join(f"{t}={n}" for t, n in data.row_counts.items()))
    if issues:
        log.warning("the extract could not read %d cell(s) or row(s) as the contract says "
                    "(listed as findings)", len(issues))
    return data

