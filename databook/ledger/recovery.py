"""After a restore: the witness's copy of the entries it saw, and putting them back.

A backup is older than the ledger it saved: every download between the backup and the
restore is gone from the restored database. The witness keeps its own copy of every entry it
co-signed (``witness/entries.jsonl`` beside its memory, on the nightly host): entries hold no
child's details and no reason's text (only its salted commitment), so the copy is no more
sensitive than the ledger's receipts. ``replay`` re-appends the copy's entries the restored
database lacks, byte for byte: the same bytes give the same leaves, so the tree grows back to
exactly the one the witness co-signed, its root matches, and the witness passes with no
exception to its rule. What nobody co-signed yet (appended after the witness's last pass and
before the restore) is lost, and named by index: the restore says how many entries the
database held, ``replay`` says where the witness's copy ends.
"""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, cast

from sqlalchemy import Table, insert, select
from sqlalchemy.orm import Session

from databook.fsio import private_dir
from databook.ledger import merkle, sealing
from databook.ledger.log import _left_siblings, completed_nodes, lock, size
from databook.ledger.models import LedgerEntry, LedgerNode

COPY_FILE = Path("witness") / "entries.jsonl"
_ENTRIES = cast(Table, LedgerEntry.__table__)
_NODES = cast(Table, LedgerNode.__table__)


class RecoveryError(Exception):
    """The copy and the ledger disagree; the message is one safe line."""


@dataclass(frozen=True)
class Copied:
    idx: int
    kind: str
    at: datetime
    actor_id: int | None
    urn: int | None
    body: bytes

    def line(self) -> str:
        return json.dumps({"idx": self.idx, "kind": self.kind, "at": self.at.isoformat(),
                           "actor_id": self.actor_id, "urn": self.urn,
                           "body": base64.b64encode(self.body).decode()}) + "\n"


def read_copy(path: Path) -> Iterator[Copied]:
    if not path.exists():
        return
    with path.open() as lines:
        for number, text in enumerate(lines):
            try:
                row: dict[str, Any] = json.loads(text)
                item = Copied(int(row["idx"]), str(row["kind"]),
                              datetime.fromisoformat(row["at"]), row.get("actor_id"),
                              row.get("urn"), base64.b64decode(row["body"]))
            except (ValueError, KeyError, TypeError):
                raise RecoveryError(f"{path} line {number + 1} is damaged") from None
            if item.idx != number:
                raise RecoveryError(f"{path} line {number + 1} holds entry {item.idx}")
            yield item


def copied_size(path: Path) -> int:
    return sum(1 for _ in read_copy(path))


def extend_copy(db: Session, path: Path, upto: int, root: bytes) -> int:
    """Add entries up to ``upto`` (the size just co-signed) to the copy, after checking that
    the whole copy's tree has the co-signed ``root``: the copy is exactly what was witnessed.
    Returns the copy's size."""
    have = list(read_copy(path))
    if len(have) > upto:
        have = have[:upto]
    rows = db.execute(select(_ENTRIES.c.idx, _ENTRIES.c.kind, _ENTRIES.c.at, _ENTRIES.c.actor_id,
                             _ENTRIES.c.urn, _ENTRIES.c.body)
                      .where(_ENTRIES.c.idx >= len(have), _ENTRIES.c.idx < upto)
                      .order_by(_ENTRIES.c.idx)).all()
    new = [Copied(int(i), str(k), at, a, u, bytes(b)) for i, k, at, a, u, b in rows]
    tree = merkle.MemoryTree()
    for item in (*have, *new):
        tree.append(merkle.leaf_hash(item.body))
    if tree.size != upto or tree.root() != root:
        raise RecoveryError("the witness's copy of the ledger does not match what it co-signed")
    private_dir(path.parent)
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.writelines(item.line() for item in (*have, *new))
        out.flush()
        os.fsync(out.fileno())
    os.replace(tmp, path)
    return upto


def replay(db: Session, path: Path) -> tuple[int, int]:
    """Re-append, byte for byte, the copy's entries the ledger lacks; (first, end) of those
    put back (first == end: none). Refused if the ledger's entries differ from the copy's.
    Only the portal host can do it: each entry put back is sealed with its entry key like any
    other append (the witness's co-signature already vouched for the bytes)."""
    key = sealing.key_of(db)
    if key is None:
        raise RecoveryError("this host holds no ledger entry key: put the witness's copy back "
                            "on the portal host (`databook audit recover --copy FILE`)")
    lock(db)
    start = size(db)
    copy = list(read_copy(path))
    if start > len(copy):
        return start, start
    stored = db.execute(select(_ENTRIES.c.leaf_hash).order_by(_ENTRIES.c.idx)).scalars().all()
    for index, leaf in enumerate(stored):
        if bytes(leaf) != merkle.leaf_hash(copy[index].body):
            raise RecoveryError(f"entry {index} in the ledger is not the one the witness saw: "
                                "the restored database is not this ledger's")
    conn = db.connection()
    for item in copy[start:]:
        leaf = merkle.leaf_hash(item.body)
        conn.execute(insert(_ENTRIES), {"idx": item.idx, "kind": item.kind, "at": item.at,
                                        "body": item.body, "leaf_hash": leaf,
                                        "seal": sealing.seal(key, item.body),
                                        "actor_id": item.actor_id, "urn": item.urn})
        rows = completed_nodes(item.idx, leaf, _left_siblings(conn, item.idx))
        if rows:
            conn.execute(insert(_NODES), rows)
    return start, len(copy)


def said(first: int, end: int) -> str:
    """What a command says of ``replay``'s (first, end)."""
    if end > first:
        return f"re-appended entries {first} to {end - 1} from the witness's copy"
    return f"the ledger already holds every entry the witness saw ({first})"


def accept_restore(db: Session, home: Path) -> str:
    """``audit verify --accept-restore``: what the last verify saw beyond the restored ledger
    is recorded as lost, in the ledger itself (a ``council_action`` entry with the range),
    and the last verify's memory starts again from the ledger as it is now. The witness's
    memory is NOT set aside: the restored ledger must still extend what the witness co-signed
    (``databook witness recover`` puts those entries back first)."""
    from databook.ledger.log import append
    from databook.ledger.seen import SEEN_FILE, read_seen

    before = read_seen(home / SEEN_FILE)
    now = size(db)
    if before is None or before.checkpoint <= now:
        return "nothing was lost that the last audit verify saw"
    append(db, "council_action", {"action": "ledger_restored",
                                  "target": f"entries {now} to {before.checkpoint - 1} lost"})
    (home / SEEN_FILE).unlink()
    return (f"entries {now} to {before.checkpoint - 1}, which the last audit verify saw, are "
            f"not in the restored ledger: recorded as lost in entry {now}")
