"""Bring the portal's database to the newest schema with Alembic, from code (no alembic.ini):
``databook portal serve`` runs it first, so a council never runs a separate step."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from databook.database import engine_for, session_factory
from databook.fsio import make_private_dir
from databook.ledger import sealing

SCRIPTS = Path(__file__).with_name("migrations")


def config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(SCRIPTS))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


#: pg_advisory_xact_lock key for migrations ("databook migrate"), apart from the ledger's.
MIGRATION_LOCK = 0x6462_6D69_6772_6174 & 0x7FFF_FFFF_FFFF_FFFF


def upgrade(url: str, revision: str = "heads") -> None:
    """Upgrade to ``revision`` (every head by default); safe to run at every start-up, and by
    several processes at once: on PostgreSQL the whole upgrade runs in one transaction that
    first takes an advisory lock, so the portal's workers, its commands and a second portal
    starting together on a fresh database take turns (the first migrates, the others find
    the schema current) instead of racing to create the same tables."""
    if url.startswith("sqlite:///"):
        make_private_dir(Path(url.removeprefix("sqlite:///")).parent)
    if not url.startswith("postgresql"):
        command.upgrade(config(url), revision)
        return
    engine = engine_for(url)
    try:
        with engine.begin() as conn:
            conn.execute(select(func.pg_advisory_xact_lock(MIGRATION_LOCK)))
            cfg = config(url)
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, revision)
    finally:
        engine.dispose()


def ready(url: str, state_dir: Path | None = None) -> sessionmaker[Session]:
    """Sessions on a database brought up to date first (every command and the server).
    With the portal's ``state_dir``, they may append to the ledger (its entry key is there:
    ``databook.ledger.sealing``)."""
    upgrade(url)
    engine = engine_for(url)
    if state_dir is not None:
        sealing.attach(engine, state_dir)
    return session_factory(engine)
