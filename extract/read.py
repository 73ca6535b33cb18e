"""Run the queries and hand back plain DataFrames, one per source table."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass

import pandas as pd
from sqlalchemy import Connection, Select, func, select

from extract.connect import connected, describe, open_engine, parse_url
from extract.contract import check_columns
from extract.errors import SourceError
from extract.queries import (
    CASE_COLUMNS,
    ROLL_COLUMNS,
    ExtractFilters,
    case_queries,
    needed_columns,
    roll_queries,
)
from schemas import source as s

log = logging.getLogger(__name__)

CASE = "case database"
ROLL = "school roll"


@dataclass(frozen=True)
class SourceData:
    """What the extract read: one frame per table, columns as named in the source contract."""

    tables: Mapping[str, pd.DataFrame]

    def __getitem__(self, table: str) -> pd.DataFrame:
        return self.tables[table]

    @property
    def row_counts(self) -> dict[str, int]:
        """A fingerprint of the source, safe to log and to write into a manifest."""
        return {name: len(frame) for name, frame in sorted(self.tables.items())}


def _read(conn: Connection, queries: Mapping[str, Select[tuple[object, ...]]],
          columns: Mapping[str, tuple[str, ...]]) -> dict[str, pd.DataFrame]:
    frames = {}
    for table, query in queries.items():
        rows = conn.execute(query).all()
        frames[table] = pd.DataFrame.from_records(rows, columns=list(columns[table]))
    return frames


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
                columns: Mapping[str, tuple[str, ...]]) -> dict[str, pd.DataFrame]:
    with checked(url, label, columns) as conn:
        return _read(conn, queries, columns)


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
    tables = read_source(case_url, CASE, case_queries(filters), CASE_COLUMNS)
    tables |= read_source(roll_url, ROLL, roll_queries(), ROLL_COLUMNS)
    data = SourceData(tables)
    if data["DM_PERSONS"].empty:
        where = describe(parse_url(case_url, CASE))
        raise SourceError(f"the {CASE} at {where} has nobody with a social care record")
    log.info("extracted %s", ", ".join(f"{t}={n}" for t, n in data.row_counts.items()))
    return data

