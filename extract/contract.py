"""Check a live database against the columns the extract needs, before reading anything.

A council's Mosaic copy may lag behind the contract or map the ``LA_*`` tables differently:
this turns that into "table X has no column Y" instead of a driver error halfway through.
"""

from __future__ import annotations

from collections.abc import Mapping

from sqlalchemy import Connection, inspect

from extract.connect import describe
from extract.errors import SourceError


def check_columns(conn: Connection, needed: Mapping[str, tuple[str, ...]], label: str) -> None:
    inspector = inspect(conn)
    present = {name.upper(): name for name in inspector.get_table_names()}
    present.update({name.upper(): name for name in inspector.get_view_names()})
    where = describe(conn.engine.url)
    for table, columns in needed.items():
        actual = present.get(table.upper())
        if actual is None:
            raise SourceError(f"the {label} at {where} has no table {table}")
        have = {col["name"].upper() for col in inspector.get_columns(actual)}
        missing = [c for c in columns if c.upper() not in have]
        if missing:
            raise SourceError(
                f"table {table} in the {label} at {where} has no column {', '.join(missing)}"
            )
