"""The download ledger: every portal event, signed and provable.

The portal calls two functions:

- ``record(db, kind, **fields)`` appends one event in the caller's transaction and returns its
  index; the caller commits, so an event and the change it records land together or not at all.
- ``maybe_checkpoint(db)`` after a request: signs a new tree head when there are new entries
  and the last one is older than the interval (10 minutes by default), then commits.

``receipt(db, index)`` gives a download's receipt (entry, index, a checkpoint covering it and
the inclusion proof), signing a checkpoint on demand if none covers the entry yet.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from databook.ledger.config import LedgerConfig
from databook.ledger.entries import KINDS, FieldValue
from databook.ledger.log import append
from databook.ledger.log import checkpoint as _checkpoint
from databook.ledger.receipts import make

__all__ = ["KINDS", "LedgerConfig", "maybe_checkpoint", "receipt", "record"]


def record(db: Session, kind: str, /, **fields: FieldValue) -> int:
    """Append one event in the caller's transaction and return its index; the caller commits.

    Serialised: PostgreSQL takes pg_advisory_xact_lock; SQLite relies on engine_for's BEGIN
    IMMEDIATE. Refuses unknown kinds and fields not allowed for the kind (ValueError). Free
    text (``reason_text``) is kept apart and only its salted commitment enters the log.
    """
    return append(db, kind, dict(fields))


def maybe_checkpoint(db: Session, config: LedgerConfig, *, force: bool = False) -> int | None:
    """Sign a checkpoint if one is due (or ``force``) and commit; returns its size or None."""
    row = _checkpoint(db, config, force=force)
    db.commit()
    return None if row is None else row.size


def receipt(db: Session, index: int, config: LedgerConfig) -> dict[str, object]:
    """The receipt of entry ``index``; see ``databook.ledger.receipts``."""
    return make(db, index, config)
