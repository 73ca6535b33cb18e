"""The download ledger: every portal event, signed and provable (issue 10).

The portal calls two functions:

- ``record(db, kind, **fields)`` appends one event in the caller's transaction and returns its
  index; the caller commits, so an event and the change it records land together or not at all.
- ``maybe_checkpoint(db)`` after a request: signs a new tree head when there are new entries
  and the last one is older than the interval (10 minutes by default), then commits.

``receipt(db, index)`` gives a download's receipt (entry, index, a checkpoint covering it and
the inclusion proof), signing a checkpoint on demand if none covers the entry yet.
"""

from __future__ import annotations

from functools import lru_cache

from sqlalchemy.orm import Session

from portal.ledger.config import LedgerConfig, from_settings
from portal.ledger.entries import KINDS, FieldValue
from portal.ledger.log import append
from portal.ledger.log import checkpoint as _checkpoint

__all__ = ["KINDS", "LedgerConfig", "default_config", "maybe_checkpoint", "receipt", "record"]


@lru_cache(maxsize=1)
def default_config() -> LedgerConfig:
    """The configuration from ``flows.settings`` (read once per process)."""
    from flows.settings import load

    return from_settings(load())


def record(db: Session, kind: str, /, **fields: FieldValue) -> int:
    """Append one event in the caller's transaction and return its index; the caller commits.

    Serialised: PostgreSQL takes pg_advisory_xact_lock; SQLite relies on engine_for's BEGIN
    IMMEDIATE. Refuses unknown kinds and fields not allowed for the kind (ValueError). Free
    text (``reason_text``) is kept apart and only its salted commitment enters the log.
    """
    return append(db, kind, dict(fields))


def maybe_checkpoint(db: Session, *, force: bool = False,
                     config: LedgerConfig | None = None) -> int | None:
    """Sign a checkpoint if one is due (or ``force``) and commit; returns its size or None."""
    row = _checkpoint(db, config or default_config(), force=force)
    db.commit()
    return None if row is None else row.size


def receipt(db: Session, index: int, config: LedgerConfig | None = None) -> dict[str, object]:
    """The receipt of entry ``index``; see ``portal.ledger.receipts``."""
    from portal.ledger.receipts import make

    return make(db, index, config or default_config())
