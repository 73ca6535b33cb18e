"""The extract: least data in every query, SQL Server compatibility, and clear errors."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import pandas as pd
import pytest
import sqlglot
from sqlalchemy.dialects import mssql

from demo import DemoSize
from extract import SourceError, read_sources
from extract.queries import ExtractFilters, case_queries, roll_queries
from schemas.source import NEVER_EXTRACTED
from tests.support import AS_AT, Council, make_council

ALL_QUERIES = {**case_queries(ExtractFilters()), **roll_queries()}


@pytest.mark.parametrize("table", sorted(ALL_QUERIES))
def test_every_query_compiles_for_sql_server_and_parses_as_tsql(table: str) -> None:
    sql = str(ALL_QUERIES[table].compile(dialect=mssql.dialect(),
                                         compile_kwargs={"literal_binds": True}))
    parsed = sqlglot.parse_one(sql, read="tsql")
    assert parsed.find(sqlglot.exp.Select) is not None
    assert table in sql


@pytest.mark.parametrize("table", sorted(ALL_QUERIES))
def test_no_query_names_free_text_or_police_sourced_columns(table: str) -> None:
    sql = str(ALL_QUERIES[table].compile(dialect=mssql.dialect()))
    for columns in NEVER_EXTRACTED.values():
        for column in columns:
            assert f"{column}]" not in sql and f".{column}" not in sql, (table, column)
    assert "FULL_NAME" not in sql or table == "DM_WORKERS"


def test_home_numbers_and_non_domestic_abuse_notifications_are_not_read(council: Council) -> None:
    data = read_sources(council.case_url, council.roll_url)
    assert set(data["LA_WORKER_TELEPHONE_NUMBERS"]["NUMBER_TYPE"]) <= {"WORK", "MOBILE"}
    assert "NOTIFICATION_TYPE" not in data["LA_POLICE_NOTIFICATIONS"].columns
    with sqlite3.connect(council.case_path) as con:
        da = con.execute("SELECT COUNT(*) FROM LA_POLICE_NOTIFICATIONS "
                         "WHERE NOTIFICATION_TYPE = 'DA'").fetchone()[0]
        adults = con.execute("SELECT COUNT(*) FROM DM_PERSONS").fetchone()[0]
    assert len(data["LA_POLICE_NOTIFICATIONS"]) == da
    assert len(data["DM_PERSONS"]) < adults  # parents without a case of their own are not read


@pytest.mark.postgres
def test_postgresql_and_sqlite_extracts_are_identical(pg_url: str, tmp_path: Path) -> None:
    size = DemoSize(schools=6, pupils=800, as_at=AS_AT)
    lite = make_council(tmp_path, size)
    make_council_pg(pg_url, size)
    a = read_sources(lite.case_url, lite.roll_url)
    b = read_sources(pg_url, pg_url)
    assert a.row_counts == b.row_counts
    for table, frame in a.tables.items():
        left = frame.sort_values(frame.columns[0]).reset_index(drop=True)
        right = b[table].sort_values(frame.columns[0]).reset_index(drop=True)
        pd.testing.assert_frame_equal(left, right, check_dtype=False, obj=table)


def make_council_pg(url: str, size: DemoSize) -> None:
    from demo import generate

    generate(url, url, size)


@pytest.mark.postgres
def test_unreachable_server_names_the_host_and_hides_the_password() -> None:
    url = "postgresql+psycopg://reader:s3cret-pw@127.0.0.1:1/mosaic"
    with pytest.raises(SourceError) as caught:
        read_sources(url, url)
    message = str(caught.value)
    assert "127.0.0.1:1/mosaic" in message and "case database" in message
    assert "s3cret-pw" not in message and "\n" not in message
    assert caught.value.transient


def test_a_missing_sqlite_file_is_an_error_not_a_new_empty_database(tmp_path: Path) -> None:
    missing = tmp_path / "nope.sqlite"
    with pytest.raises(SourceError, match="does not exist"):
        read_sources(f"sqlite:///{missing}", f"sqlite:///{missing}")
    assert not missing.exists()


def _copy(council: Council, tmp_path: Path) -> Council:
    copy = Council(tmp_path / "case.sqlite", tmp_path / "roll.sqlite")
    shutil.copy(council.case_path, copy.case_path)
    shutil.copy(council.roll_path, copy.roll_path)
    return copy


def test_a_missing_table_is_named(council: Council, tmp_path: Path) -> None:
    copy = _copy(council, tmp_path)
    with sqlite3.connect(copy.case_path) as con:
        con.execute("DROP TABLE LA_PERSON_WARNINGS")
    with pytest.raises(SourceError, match="has no table LA_PERSON_WARNINGS") as caught:
        read_sources(copy.case_url, copy.roll_url)
    assert not caught.value.transient


def test_a_missing_column_is_named(council: Council, tmp_path: Path) -> None:
    copy = _copy(council, tmp_path)
    with sqlite3.connect(copy.roll_path) as con:
        con.execute("ALTER TABLE EDU_ENROLMENTS DROP COLUMN LEAVING_DATE")
    with pytest.raises(SourceError, match=r"EDU_ENROLMENTS .* has no column LEAVING_DATE"):
        read_sources(copy.case_url, copy.roll_url)


def test_an_empty_roll_stops_the_run(council: Council, tmp_path: Path) -> None:
    copy = _copy(council, tmp_path)
    with sqlite3.connect(copy.roll_path) as con:
        con.execute("DELETE FROM EDU_ENROLMENTS")
    with pytest.raises(SourceError, match="no rows in EDU_ENROLMENTS"):
        read_sources(copy.case_url, copy.roll_url)
