"""Extract rows/s, three ways interleaved on the same source in one process (so a busy machine
slows each alike): SQLAlchemy ``Row`` objects into ``DataFrame.from_records`` (the extract
before the Arrow reader), plain tuples (today's ordinary path, SQL Server's), and ADBC into Arrow
(today's path on SQLite and PostgreSQL). Each is the whole ``read_sources``: contract checks,
every query, date parsing, the NULL-person queries.

    python benchmarks/extract_rates.py CASE_URL ROLL_URL [--repeat 3]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any

import pandas as pd

from extract import columnar, read_sources
from extract import read as extract_read


@contextmanager
def rows_path() -> Iterator[None]:
    """The extract as it was: ``Row`` objects straight into ``from_records``."""
    real_read, real_driver = extract_read._read, columnar.driver_for

    def old_read(conn: Any, queries: Any, columns: Any, issues: Any,
                 fast: Any = None) -> dict[str, pd.DataFrame]:
        frames = {}
        for table, query in queries.items():
            rows = conn.execute(query).all()
            frame = pd.DataFrame.from_records(rows, columns=list(columns[table]))
            issues += extract_read.read_dates(table, frame)
            frames[table] = frame
        return frames

    extract_read._read, columnar.driver_for = old_read, lambda url: None
    try:
        yield
    finally:
        extract_read._read, columnar.driver_for = real_read, real_driver


@contextmanager
def tuples_path() -> Iterator[None]:
    real = columnar.driver_for
    columnar.driver_for = lambda url: None
    try:
        yield
    finally:
        columnar.driver_for = real


@contextmanager
def arrow_path() -> Iterator[None]:
    yield


PATHS: dict[str, Callable[[], AbstractContextManager[None]]] = {
    "SQLAlchemy Row objects (before)": rows_path, "plain tuples (ordinary path)": tuples_path,
    "ADBC into Arrow": arrow_path}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("case_url")
    parser.add_argument("roll_url")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    import adbc_driver_postgresql.dbapi  # noqa: F401  (imports are not the reading)
    import adbc_driver_sqlite.dbapi  # noqa: F401
    import pyarrow  # noqa: F401

    rows = sum(read_sources(args.case_url, args.roll_url).row_counts.values())
    best: dict[str, float] = {}
    for _ in range(args.repeat):
        for name, path in PATHS.items():
            with path():
                started = time.perf_counter()
                read_sources(args.case_url, args.roll_url)
                best[name] = min(best.get(name, 1e9), time.perf_counter() - started)
    print(f"{rows:,} source rows, best of {args.repeat}, interleaved:")
    for name, seconds in best.items():
        print(f"  {name:<34}{seconds:>7.2f} s{rows / seconds:>12,.0f} rows/s"
              f"{best['SQLAlchemy Row objects (before)'] / seconds:>7.1f}x")


if __name__ == "__main__":
    main()
