"""Migrations 0007 (the access protocol's duties) and 0008 (council sign-in through an OpenID
provider) make exactly their models' tables, on SQLite and on PostgreSQL, and their downgrades
remove them; the whole chain upgrades to both."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.operations import Operations
from sqlalchemy import inspect

import portal.models  # noqa: F401  (the users table 0007 refers to)
from databook.database import Base, engine_for
from portal.duties import models
from portal.migrate import upgrade
from portal.oidc import models as oidc_models
from tests.support import REPO

MIGRATION = REPO / "portal/migrations/versions/0007_access_protocol_duties.py"
MINE = {models.Concern.__tablename__, models.LeaverReport.__tablename__,
        models.SampleCheck.__tablename__, models.SampleItem.__tablename__}
OIDC = REPO / "portal/migrations/versions/0008_council_oidc.py"
OIDC_TABLES = {oidc_models.CouncilIdentity.__tablename__, oidc_models.OidcPending.__tablename__}


def migration(path: Path = MIGRATION) -> ModuleType:
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_upgrade_matches_the_models_and_downgrade_removes_them(db_url: str) -> None:
    module = migration()
    assert (module.revision, module.down_revision) == ("0007_access_protocol_duties",
                                                       "0006_ledger_entry_seal")
    engine = engine_for(db_url)
    try:
        with engine.begin() as conn:
            Base.metadata.create_all(conn, tables=[Base.metadata.tables["users"]])
            context = MigrationContext.configure(conn)
            with Operations.context(context):
                module.upgrade()
            assert set(inspect(conn).get_table_names()) >= MINE
            differences = [d for d in compare_metadata(context, Base.metadata)
                           if any(getattr(getattr(p, "table", p), "name", None) in MINE
                                  for p in (d if isinstance(d, tuple) else d[0]))]
            assert differences == []
            with Operations.context(context):
                module.downgrade()
            assert not MINE & set(inspect(conn).get_table_names())
    finally:
        engine.dispose()


def test_the_oidc_migration_matches_its_models(db_url: str) -> None:
    module = migration(OIDC)
    assert (module.revision, module.down_revision) == ("0008_council_oidc",
                                                       "0007_access_protocol_duties")
    engine = engine_for(db_url)
    try:
        with engine.begin() as conn:
            Base.metadata.create_all(conn, tables=[Base.metadata.tables["users"]])
            context = MigrationContext.configure(conn)
            with Operations.context(context):
                module.upgrade()
            differences = [d for d in compare_metadata(context, Base.metadata)
                           if any(getattr(getattr(p, "table", p), "name", None) in OIDC_TABLES
                                  for p in (d if isinstance(d, tuple) else d[0]))]
            assert differences == []
            with Operations.context(context):
                module.downgrade()
            assert not OIDC_TABLES & set(inspect(conn).get_table_names())
    finally:
        engine.dispose()


def test_the_chain_upgrades_to_the_duties(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/portal.sqlite"
    upgrade(url)
    engine = engine_for(url)
    try:
        assert set(inspect(engine).get_table_names()) >= MINE | OIDC_TABLES
    finally:
        engine.dispose()
