"""The Arrow extract (``extract.columnar``) reads exactly what the ordinary SQLAlchemy path
reads, on SQLite and PostgreSQL, clean data and dirty: the same frames, dtypes and issues.

The ordinary path is the reference: the bad-input findings were written against it."""

from __future__ import annotations

import logging
import shutil
import sqlite3
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from sqlalchemy import make_url

from demo import DemoSize
from extract import SourceData, columnar, read_sources
from extract.connect import open_engine
from extract.queries import ExtractFilters, case_queries, roll_queries
from tests.support import AS_AT, Council

ALL_QUERIES = {**case_queries(ExtractFilters()), **roll_queries()}


def ordinary(monkeypatch: pytest.MonkeyPatch, case_url: str, roll_url: str) -> SourceData:
    with monkeypatch.context() as patch:
        patch.setattr(columnar, "driver_for", lambda url: None)
        return read_sources(case_url, roll_url)


def assert_same(fast: SourceData, slow: SourceData) -> None:
    assert fast.issues == slow.issues
    assert list(fast.tables) == list(slow.tables)
    for table, frame in slow.tables.items():
        pd.testing.assert_frame_equal(fast[table], frame, check_dtype=True, obj=table)


def arrow_frames(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The tables ``read_sources`` then reads through Arrow, as it reads them."""
    seen: list[str] = []
    real = columnar.Reader.frame

    def spy(self: columnar.Reader, table: str, query: Any) -> pd.DataFrame | None:
        frame = real(self, table, query)
        if frame is not None:
            seen.append(table)
        return frame

    monkeypatch.setattr(columnar.Reader, "frame", spy)
    return seen


def test_sqlite_through_arrow_is_the_ordinary_read(council: Council,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    slow = ordinary(monkeypatch, council.case_url, council.roll_url)
    seen = arrow_frames(monkeypatch)
    assert_same(read_sources(council.case_url, council.roll_url), slow)
    assert sorted(seen) == sorted(ALL_QUERIES)


@pytest.mark.postgres
def test_postgresql_through_arrow_is_the_ordinary_read(pg_url: str,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    from demo import generate

    generate(pg_url, pg_url, DemoSize(schools=6, pupils=800, as_at=AS_AT))
    slow = ordinary(monkeypatch, pg_url, pg_url)
    seen = arrow_frames(monkeypatch)
    fast = read_sources(pg_url, pg_url)
    assert sorted(seen) == sorted(ALL_QUERIES)
    assert fast["DM_PERSONS"]["PERSON_ID"].dtype == "float64"  # NUMERIC, as psycopg gives it
    assert_same(fast, slow)


DIRTY = {
    # Text among whole numbers, first: the driver would type the column as text.
    "roll": ["UPDATE EDU_ENROLMENTS SET EDU_PERSON_ID = 'abc' "
             "WHERE ENROLMENT_ID = (SELECT MIN(ENROLMENT_ID) FROM EDU_ENROLMENTS)",
             "UPDATE EDU_ENROLMENTS SET EDU_PERSON_ID = 12.5 "
             "WHERE ENROLMENT_ID = (SELECT MAX(ENROLMENT_ID) FROM EDU_ENROLMENTS)",
             "UPDATE EDU_SCHOOLS SET PHASE = NULL"],
    "case": ["UPDATE DM_PERSONS SET DATE_OF_BIRTH = 'Zebedee Quill' "
             "WHERE PERSON_ID = (SELECT MAX(PERSON_ID) FROM DM_CIN_REFERRALS)",
             "UPDATE DM_ADDRESSES SET PERSON_ID = NULL "
             "WHERE REF_ADDRESSES_PEOPLE_ID = (SELECT MIN(REF_ADDRESSES_PEOPLE_ID) "
             "FROM DM_ADDRESSES)",
             # a number among text, after thousands of rows of text
             "UPDATE DM_WORKERS SET FULL_NAME = 7 "
             "WHERE WORKER_ID = (SELECT MAX(WORKER_ID) FROM DM_WORKERS)",
             "UPDATE DM_ALLOCATED_WORKERS SET END_DATE = NULL"],
}


def test_dirty_sqlite_reads_as_the_ordinary_path_reads_it(
        council: Council, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    """Text in a number column, a number in a text column, all-NULL columns, text in a date
    column, a NULL key: the same frames and issues, and no value in the log."""
    folder = tmp_path / "a folder with spaces"
    folder.mkdir()
    paths = {"case": folder / "case.sqlite", "roll": folder / "roll.sqlite"}
    shutil.copy(council.case_path, paths["case"])
    shutil.copy(council.roll_path, paths["roll"])
    for source, statements in DIRTY.items():
        with sqlite3.connect(paths[source]) as con:
            for sql in statements:  # a view-like table with no type affinity to coerce values
                table = sql.split()[1]
                con.execute(f"ALTER TABLE {table} RENAME TO {table}_0")
                con.execute(f"CREATE TABLE {table} AS SELECT * FROM {table}_0")
                con.execute(f"DROP TABLE {table}_0")
                con.execute(sql)
    urls = (f"sqlite:///{paths['case']}", f"sqlite:///{paths['roll']}")
    slow = ordinary(monkeypatch, *urls)
    seen = arrow_frames(monkeypatch)
    with caplog.at_level(logging.INFO):
        fast = read_sources(*urls)
    assert_same(fast, slow)
    assert "DM_PERSONS" in seen and "EDU_ENROLMENTS" not in seen  # that one fell back
    assert "Zebedee" not in caplog.text and "abc" not in caplog.text
    assert {i.kind for i in fast.issues} == {"not-a-date", "no-person"}


def test_sql_server_and_unknown_backends_keep_the_ordinary_path() -> None:
    assert columnar.driver_for(make_url("mssql+pyodbc://reader@db/mosaic?driver=x")) is None
    assert columnar.driver_for(make_url("sqlite:///x.sqlite")) == "adbc_driver_sqlite"
    assert columnar.driver_for(
        make_url("postgresql+psycopg://u@h/db")) == "adbc_driver_postgresql"


def test_the_arrow_uri_is_read_only_and_keeps_the_server_options() -> None:
    lite = columnar.adbc_uri(make_url("sqlite:///file:/data/a b.sqlite?mode=ro&uri=true"))
    assert lite == "file:/data/a%20b.sqlite?mode=ro"
    pg = columnar.adbc_uri(make_url(
        "postgresql+psycopg://reader:pw@db:5433/mosaic?options=-csearch_path%3Dmart"))
    assert pg == "postgresql://reader:pw@db:5433/mosaic?options=-csearch_path%3Dmart"


def test_a_read_only_sqlite_source_is_never_written(council: Council, tmp_path: Path) -> None:
    copy = tmp_path / "case.sqlite"
    shutil.copy(council.case_path, copy)
    engine = open_engine(f"sqlite:///{copy}", "case")
    try:
        with columnar.reader(engine) as fast:
            assert fast is not None
            cursor = fast._conn.cursor()
            with pytest.raises(Exception, match=r"(?i)readonly|read-only|read only"):
                cursor.execute("CREATE TABLE x (y INTEGER)")
    finally:
        engine.dispose()
