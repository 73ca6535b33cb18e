"""The portal's database backup is SQLAlchemy's, not a client tool's: the same archive
restores into PostgreSQL (and SQLite), byte for byte, at the backup's migration revision, and
serial ids continue after the restored rows."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from databook import archive
from databook.ledger.config import load_signer
from databook.ledger.models import LedgerEntry
from databook.portal_table import PortalTable
from portal.backup import backup_of, restore_into
from portal.migrate import ready
from portal.models import User
from tests.support import fill_ledger as fill
from tests.support import make_ledger


def _user(url: str, email: str) -> int:
    with ready(url).begin() as db:
        user = User(email=email, name="x", role="dsl", state="active", password_hash="x",
                    created_at=datetime.now(UTC))
        db.add(user)
        db.flush()
        return int(user.id)


@pytest.mark.postgres
def test_a_postgresql_portal_restores_whole_from_its_archive(pg_url: str, tmp_path: Path) -> None:
    ledger = make_ledger(pg_url, tmp_path / "state")
    fill(ledger, 7, checkpoints_at=(7,))
    load_signer(ledger.config)
    first = _user(pg_url, "ann@school.example")
    portal = PortalTable(database_url=pg_url, state_dir=tmp_path / "state")
    with ledger.session() as db:
        bodies = db.scalars(select(LedgerEntry.body).order_by(LedgerEntry.idx)).all()
    path = archive.write(backup_of(portal), tmp_path / "portal.tar.gz")
    fill(ledger, 3, checkpoints_at=(3,))
    _user(pg_url, "bob@school.example")
    ledger.engine.dispose()
    said = restore_into(portal, archive.read(path), force=True)
    assert "entries 7 to 9 are not in the backup" in said
    with ledger.session() as db:
        assert db.scalars(select(LedgerEntry.body).order_by(LedgerEntry.idx)).all() == bodies
        assert db.scalars(select(User.email)).all() == ["ann@school.example"]
    assert _user(pg_url, "cy@school.example") > first  # the id sequence continues
    ledger.engine.dispose()
