"""Filling a ledger with a plausible day of portal events (synthetic: ids and emails only)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import delete

from databook.ledger import log
from databook.ledger.models import LedgerCheckpoint, LedgerEntry, LedgerNode

from .conftest import Ledger

T0 = datetime(2026, 11, 23, 8, 30, tzinfo=UTC)


def fill(ledger: Ledger, count: int, checkpoints_at: tuple[int, ...] = (),
         start: datetime = T0) -> None:
    """``count`` entries, one transaction each, signing a checkpoint after each size listed."""
    with ledger.session() as db:
        for i in range(count):
            at = start + timedelta(minutes=i)
            if i % 3 == 0:
                log.append(db, "signin_ok", {"actor_id": 1 + i % 4,
                                             "actor_email": f"dsl{1 + i % 4}@school.example",
                                             "method": "totp"}, now=at)
            else:
                log.append(db, "download", {
                    "actor_id": 1 + i % 4, "actor_email": f"dsl{1 + i % 4}@school.example",
                    "urn": 112000 + i % 4, "run_id": "20261123T020000Z-abc123",
                    "file_sha256": "ab" * 32, "reason_code": "concern",
                    "reason_text": f"reason number {i}"}, now=at)
            db.commit()
            if i + 1 in checkpoints_at:
                log.checkpoint(db, ledger.config, force=True, now=at)
                db.commit()


def truncate(ledger: Ledger, keep: int = 5) -> None:
    """What an insider holding the ledger's key could do: delete the newest entries (and the
    stored nodes and checkpoints over them) and sign a fresh, shorter checkpoint."""
    with ledger.session() as db:
        db.execute(delete(LedgerEntry).where(LedgerEntry.idx >= keep))
        db.execute(delete(LedgerCheckpoint))
        db.execute(delete(LedgerNode).where(LedgerNode.idx >= keep // 2))
        db.commit()
        log.checkpoint(db, ledger.config, force=True)
        db.commit()
