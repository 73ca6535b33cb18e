"""No unsigned tail: every entry is under a signed checkpoint within
``tail_s`` (one second by default) of its append.

Entries after the newest checkpoint are protected by nothing: whoever can write the portal
database can delete or rewrite them and every check still passes. A serving portal therefore
runs ``TailSigner``, a thread that looks (in a read-only transaction, so it holds up no
append) whether the ledger has entries no checkpoint covers and, if so, signs one checkpoint
for all of them: appends are batched, an Ed25519 signature costs tens of microseconds, and a
quiet portal writes nothing. Every command that appends signs before it exits
(``sign_tail``), and ``audit verify`` fails an entry left uncovered longer than the window.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from databook.ledger.config import LedgerConfig
from databook.ledger.log import checkpoint, size
from databook.ledger.models import LedgerCheckpoint, LedgerEntry
from databook.ledger.sealing import LedgerForged

log = logging.getLogger("databook.ledger")

#: How long ``audit verify`` allows past the window (a commit, a thread's wake-up) before an
#: uncovered entry counts as an unsigned tail.
SLACK_S = 5


def covered(db: Session) -> int:
    """The size of the newest checkpoint (0: none)."""
    return int(db.scalar(select(func.max(LedgerCheckpoint.size))) or 0)


def uncovered(db: Session) -> bool:
    return size(db) > covered(db)


def sign_tail(db: Session, config: LedgerConfig) -> int | None:
    """Sign a checkpoint now if any entry is uncovered (in the caller's transaction); its
    size, or None when there was nothing to sign."""
    row = checkpoint(db, config, force=True)
    return None if row is None else row.size


def oldest_uncovered(db: Session) -> datetime | None:
    """When the oldest entry no checkpoint covers was appended (None: all covered)."""
    at = db.scalar(select(func.min(LedgerEntry.at)).where(LedgerEntry.idx >= covered(db)))
    if at is None:
        return None
    return at if at.tzinfo else at.replace(tzinfo=UTC)


def stale_tail(db: Session, config: LedgerConfig, now: datetime | None = None) -> str | None:
    """A one-line complaint if an entry has been uncovered for longer than the window."""
    since = oldest_uncovered(db)
    if since is None:
        return None
    limit = timedelta(seconds=config.tail_s + SLACK_S)
    if (now or datetime.now(UTC)) - since <= limit:
        return None
    first, last = covered(db), size(db) - 1
    return (f"entries {first} to {last} are in no signed checkpoint, the oldest since "
            f"{since.strftime('%Y-%m-%dT%H:%M:%SZ')} (longer than {config.tail_s} s): they "
            "could have been rewritten or deleted unseen")


class TailSigner(threading.Thread):
    """A daemon thread of a serving portal: every ``tail_s / 2`` seconds, sign a checkpoint
    if there are uncovered entries. ``stop`` signs a last one."""

    def __init__(self, writers: sessionmaker[Session], readers: sessionmaker[Session],
                 config: LedgerConfig,
                 alert: Callable[[Mapping[str, Any]], object] | None = None) -> None:
        super().__init__(name="ledger-tail", daemon=True)
        self.writers, self.readers, self.config = writers, readers, config
        self.every_s = max(config.tail_s / 2, 0.05)
        self._stopping = threading.Event()
        self.signed = 0
        self.alert = alert
        self.refused: str | None = None  # why the last pass would not sign (alerted once)

    def run(self) -> None:
        while not self._stopping.wait(self.every_s):
            self.once()

    def once(self) -> int | None:
        try:
            with self.readers.begin() as db:
                if not uncovered(db):
                    return None
            with self.writers.begin() as db:
                done = sign_tail(db, self.config)
        except LedgerForged as exc:  # never signed: say so, loudly, once per finding
            if str(exc) != self.refused:
                self.refused = str(exc)
                log.error("ledger NOT signed: %s", exc)
                if self.alert is not None:
                    self.alert({"run_id": "ledger checkpoint", "status": "refused",
                                "as_at": datetime.now(UTC).date().isoformat(),
                                "error": f"the portal refused to sign its ledger: {exc}"})
            return None
        except Exception as exc:  # the next pass may succeed; audit verify will say if not
            log.warning("ledger checkpoint failed (%s); retrying in %g s",
                        type(exc).__name__, self.every_s)
            return None
        if done is not None:
            self.signed += 1
        return done

    def stop(self) -> None:
        self._stopping.set()
        self.join()
        self.once()


def fresh(db: Session, config: LedgerConfig) -> str | None:
    """Before a witness co-signs: a checkpoint covering every entry now. Signed here when the
    ledger's key is on this host; else the serving portal's tail signer is given the window
    (and a little) to sign one. A one-line complaint when the tail stays unsigned."""
    if not uncovered(db):
        return None
    if config.key_path.exists():
        sign_tail(db, config)
        db.commit()
        return None
    db.rollback()
    deadline = time.monotonic() + config.tail_s + SLACK_S
    while time.monotonic() < deadline:
        time.sleep(0.2)
        if not uncovered(db):
            return None
        db.rollback()
    return (f"entries {covered(db)} to {size(db) - 1} are in no signed checkpoint and the "
            f"portal signed none within {config.tail_s + SLACK_S} s")
