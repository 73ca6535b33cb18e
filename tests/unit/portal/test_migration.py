"""Migration 0003 makes exactly the tables the register models describe, and undoes them."""

from __future__ import annotations

import importlib.util
from types import ModuleType
from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.operations import Operations
from sqlalchemy import inspect

import portal.models  # noqa: F401  (the users table 0003 refers to)
from databook.database import Base, engine_for
from portal.registers import models
from tests.support import REPO

MIGRATION = REPO / "portal/migrations/versions/0003_registers.py"
MINE = {models.SchoolRegister.__tablename__, models.RegisterLetter.__tablename__,
        models.DslConfirmation.__tablename__}


def migration() -> ModuleType:
    spec = importlib.util.spec_from_file_location("m0003", MIGRATION)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _tables(diff: Any) -> set[str]:
    """The table names a diff entry concerns (entries are tuples, or lists of tuples)."""
    entries = diff if isinstance(diff, list) else [diff]
    names = set()
    for entry in entries:
        for part in entry:
            name = getattr(part, "name", None) if hasattr(part, "columns") else None
            table = getattr(getattr(part, "table", None), "name", None)
            names |= {n for n in (name, table) if n}
            if isinstance(part, str) and part in MINE:
                names.add(part)
    return names


def test_upgrade_matches_the_models_and_downgrade_removes_them(db_url: str) -> None:
    module = migration()
    assert (module.revision, module.down_revision) == ("0003_registers", "0002_ledger")
    engine = engine_for(db_url)
    try:
        with engine.begin() as conn:
            accounts = [Base.metadata.tables[n] for n in ("users", "user_schools")]
            Base.metadata.create_all(conn, tables=accounts)  # what 0001 made before
            context = MigrationContext.configure(conn)
            with Operations.context(context):
                module.upgrade()
            assert set(inspect(conn).get_table_names()) >= MINE
            differences = [d for d in compare_metadata(context, Base.metadata)
                           if _tables(d) & MINE]
            assert differences == []
            with Operations.context(context):
                module.downgrade()
            assert not MINE & set(inspect(conn).get_table_names())
    finally:
        engine.dispose()
