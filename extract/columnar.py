"""Read the extract's queries straight into Arrow, then frames, on SQLite and PostgreSQL.

Why: through SQLAlchemy a row becomes a Python ``Row`` object per record and pandas then
inspects every one of them (about 165,000 rows/s on the 600-school county); ADBC drivers
(``adbc-driver-sqlite``, ``adbc-driver-postgresql``: C drivers of the Arrow project) hand back
whole columns, over 1,000,000 rows/s on the same data and machine. ADBC rather than connectorx:
both SQLite and PostgreSQL drivers come from one project with one DB-API, wheels for every
platform a council runs, no Rust toolchain, and a SQLite file opened read-only by URI as the
ordinary path opens it.

The SQL is still the SQLAlchemy Core statement of ``extract.queries``, compiled for the
source's dialect with its (configuration, never data) values inlined, so SQL Server and
every other backend keep the ordinary path and the statements stay the tested ones.

A frame must come out exactly as the ordinary path makes it, since the transform and the
bad-input findings depend on it: numbers of ``NUMERIC`` columns as floats on PostgreSQL
(psycopg through ``Numeric(asdecimal=False)``), whole numbers as ``int64``, an all-NULL
column as ``None`` objects. Where Arrow cannot say the same (a SQLite column holding text
among numbers: the driver types a column from its first rows and then refuses a row of another
type), the table is read again the ordinary way, so a council's dirty data still becomes the
same findings, only slower. One difference remains, on SQLite only: a number stored in a
column the contract types as text, after rows of text, reads as its text (``7`` as ``"7"``),
as PostgreSQL and SQL Server, whose columns have one type, would give it; SQLite's own tables
store it as text anyway (text affinity), so only an untyped view can hold it.
"""

from __future__ import annotations

import importlib.util
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import quote

import pandas as pd
from sqlalchemy import DateTime, Engine, Numeric, Select, String
from sqlalchemy.engine import URL

from schemas import source as s

log = logging.getLogger(__name__)

#: The backends read through ADBC, and the driver module each needs.
DRIVERS = {"sqlite": "adbc_driver_sqlite", "postgresql": "adbc_driver_postgresql"}


def driver_for(url: URL) -> str | None:
    """The ADBC driver module for this source, or None for the ordinary path (SQL Server,
    or a machine without the driver)."""
    module = DRIVERS.get(url.get_backend_name())
    if module is None or importlib.util.find_spec(module) is None:
        return None
    return module


def adbc_uri(url: URL) -> str:
    """The URI the ADBC driver opens: for SQLite the same read-only file ``open_engine``
    chose (``mode=ro``), for PostgreSQL the libpq URI of the same server, user and options."""
    if url.get_backend_name() == "sqlite":
        path = str(url.database).removeprefix("file:")
        return f"file:{quote(path)}?mode=ro"
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


class Reader:
    """One ADBC connection to a source; ``frame`` reads one query or says it cannot."""

    def __init__(self, connection: Any, engine: Engine) -> None:
        self._conn = connection
        self._dialect = engine.dialect

    def frame(self, table: str, query: Select[tuple[object, ...]]) -> pd.DataFrame | None:
        """The query's rows as the ordinary path would make them, or None where the result
        does not fit the contract's column kinds (read that table the ordinary way)."""
        import adbc_driver_manager

        sql = str(query.compile(dialect=self._dialect, compile_kwargs={"literal_binds": True}))
        cursor = self._conn.cursor()
        try:
            cursor.execute(sql)
            arrow = cursor.fetch_arrow_table()
        except (adbc_driver_manager.Error, OSError) as exc:
            # SQLite's driver refuses a column whose later rows change type; never the text.
            log.info("table %s: read the ordinary way (%s)", table, type(exc).__name__)
            return None
        finally:
            cursor.close()
        return fit(table, arrow)


def _kind(table: str, column: str) -> str:
    found = s.case_metadata.tables.get(table)
    kind = (found if found is not None else s.roll_metadata.tables[table]).c[column].type
    if isinstance(kind, DateTime):
        return "date"
    if isinstance(kind, Numeric):  # Integer is not a Numeric in SQLAlchemy
        return "float" if kind.asdecimal is False else "number"
    if isinstance(kind, String):
        return "text"
    return "number"


def _as_contract(kind: str, column: Any) -> Any:
    """One column in its contract kind, or None when it is not of that kind."""
    import pyarrow as pa
    import pyarrow.compute as pc

    typ = column.type
    if column.null_count == len(column):
        return pa.nulls(len(column))  # None objects, as pandas makes of an all-None list
    text = pa.types.is_string(typ) or pa.types.is_large_string(typ)
    if isinstance(typ, pa.BaseExtensionType) and getattr(typ, "type_name", "") == "numeric":
        storage = pa.chunked_array([c.storage for c in column.chunks], typ.storage_type)
        return pc.cast(storage, pa.float64()) if kind in ("float", "number") else None
    if kind in ("float", "number"):
        if pa.types.is_integer(typ):
            return pc.cast(column, pa.int64())
        if pa.types.is_floating(typ) or pa.types.is_decimal(typ):
            return pc.cast(column, pa.float64())
        return None
    if kind == "text":
        return column if text else None
    if kind == "date" and (text or pa.types.is_date(typ)
                           or (pa.types.is_timestamp(typ) and typ.tz is None)):
        return column
    return None


def fit(table: str, arrow: Any) -> pd.DataFrame | None:
    """Arrow columns converted to what psycopg or sqlite3 and pandas would have made of the
    same rows; None when a column is not of its contract kind."""
    import pyarrow as pa

    columns = []
    for name, column in zip(arrow.column_names, arrow.columns, strict=True):
        fitted = _as_contract(_kind(table, name), column)
        if fitted is None:
            return None
        columns.append(fitted)
    return pa.table(columns, names=arrow.column_names).to_pandas()


@contextmanager
def reader(engine: Engine) -> Iterator[Reader | None]:
    """An ADBC reader for the engine's source, or None (the ordinary path) where no driver
    applies or it cannot connect; the ordinary path then reports any real fault."""
    module = driver_for(engine.url)
    if module is None:
        yield None
        return
    import adbc_driver_manager

    dbapi = importlib.import_module(f"{module}.dbapi")
    try:
        connection = dbapi.connect(adbc_uri(engine.url))
    except (adbc_driver_manager.Error, OSError) as exc:
        log.warning("the fast reader could not connect (%s); reading the ordinary way",
                    type(exc).__name__)
        yield None
        return
    try:
        yield Reader(connection, engine)
    finally:
        connection.close()
