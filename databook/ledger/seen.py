"""What ``audit verify`` saw last time, kept OUTSIDE the portal database.

A ledger checks itself against itself: delete every checkpoint and cosignature row and what
is left is still a consistent tree, so a verifier reading only the portal database passes it.
So ``audit verify`` also holds the ledger to memories the database's writer cannot reach,
both under ``$DATABOOK_HOME/witness/`` on the council's side:

- the witness's state (``ledger.json``): the size and root it co-signed last;
- its own (``verified.json``): the newest checkpoint's size and root, and the newest
  co-signed size, at its last successful run.

A checkpoint or cosignature never goes away and the tree at a remembered size never changes;
what can no longer be shown is a deletion or a rewrite, named in one line.
"""

from __future__ import annotations

import base64
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from databook.ledger.log import root
from databook.ledger.models import LedgerCheckpoint, LedgerCosignature
from databook.ledger.verify import LedgerBroken
from databook.ledger.witness import read_state

SEEN_FILE = Path("witness") / "verified.json"
WITNESS_FILE = Path("witness") / "ledger.json"


@dataclass(frozen=True)
class Seen:
    checkpoint: int  # the newest checkpoint's size
    root: bytes  # the tree's root at that size
    cosigned: int  # the newest size a witness co-signed (0: none)


def read_seen(path: Path) -> Seen | None:
    if not path.exists():
        return None
    try:
        data = json.loads(path.read_text())
        return Seen(int(data["checkpoint"]), base64.b64decode(data["root"]),
                    int(data["cosigned"]))
    except (ValueError, KeyError, TypeError):
        raise LedgerBroken(f"{path} is damaged; restore it from backup") from None


def write_seen(path: Path, seen: Seen) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(fd, "w") as out:
        json.dump({"checkpoint": seen.checkpoint, "root": base64.b64encode(seen.root).decode(),
                   "cosigned": seen.cosigned}, out)
        out.flush()
        os.fsync(out.fileno())
    os.replace(tmp, path)


def now_seen(db: Session) -> Seen:
    newest = int(db.scalar(select(func.max(LedgerCheckpoint.size))) or 0)
    cosigned = int(db.scalar(select(func.max(LedgerCosignature.size))) or 0)
    return Seen(newest, root(db, newest) if newest else b"", cosigned)


def _hold(db: Session, now: Seen, size: int, at_root: bytes, cosigned: int, who: str) -> None:
    if now.checkpoint < size:
        raise LedgerBroken(f"{who} saw a checkpoint of {size} entries, but the newest stored "
                           f"is {now.checkpoint or 'none'}: checkpoints were deleted")
    if size and root(db, size) != at_root:
        raise LedgerBroken(f"the first {size} entries are not the ones {who} saw: history "
                           "was rewritten")
    if now.cosigned < cosigned:
        raise LedgerBroken(f"{who} saw checkpoint {cosigned} co-signed, but the newest stored "
                           f"cosignature is of {now.cosigned or 'none'}: cosignatures were "
                           "deleted")


def check_and_remember(db: Session, home: Path) -> Seen:
    """Hold a verified ledger to the witness's and the last verify's memories, then remember
    what it is now. ``LedgerBroken`` naming the first thing that went."""
    now = now_seen(db)
    witnessed = read_state(home / WITNESS_FILE)
    if witnessed is not None:
        _hold(db, now, witnessed.size, witnessed.root, witnessed.size, "the witness")
    before = read_seen(home / SEEN_FILE)
    if before is not None:
        _hold(db, now, before.checkpoint, before.root, before.cosigned,
              "the last audit verify")
    write_seen(home / SEEN_FILE, now)
    return now
