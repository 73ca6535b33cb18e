"""Bring the portal's database to the newest schema with Alembic, from code (no alembic.ini):
``databook portal serve`` runs it first, so a council never runs a separate step."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy.orm import Session, sessionmaker

from databook.database import engine_for, session_factory
from databook.ledger import sealing

SCRIPTS = Path(__file__).with_name("migrations")


def config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(SCRIPTS))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade(url: str, revision: str = "heads") -> None:
    """Upgrade to ``revision`` (every head by default); safe to run at every start-up."""
    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    command.upgrade(config(url), revision)


def ready(url: str, state_dir: Path | None = None) -> sessionmaker[Session]:
    """Sessions on a database brought up to date first (every command and the server).
    With the portal's ``state_dir``, they may append to the ledger (its entry key is there:
    ``databook.ledger.sealing``)."""
    upgrade(url)
    engine = engine_for(url)
    if state_dir is not None:
        sealing.attach(engine, state_dir)
    return session_factory(engine)
