"""Appending to the ledger, signing its tree heads, and proofs read from the database.

One linear log however many portal workers write: every append takes the log's lock first
(PostgreSQL: a transaction-scoped advisory lock; SQLite: ``portal.db.engine_for`` begins every
transaction IMMEDIATE, which is the database-wide write lock), then takes the next index. The
primary key on the index is the backstop: a writer that somehow skipped the lock fails rather
than forking the log.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import and_, func, insert, or_, select
from sqlalchemy.orm import Session

from portal.ledger import merkle
from portal.ledger.config import LedgerConfig, load_signer
from portal.ledger.entries import TEXT_FIELDS, FieldValue, build, check, new_salt
from portal.ledger.models import (
    LedgerCheckpoint,
    LedgerCosignature,
    LedgerEntry,
    LedgerNode,
    LedgerReasonText,
)
from portal.ledger.note import checkpoint_text, sign

#: pg_advisory_xact_lock key: "databook ledger", so other users of the server do not collide.
LOCK_KEY = 0x6462_6C65_6467_6572 & 0x7FFF_FFFF_FFFF_FFFF


def lock(db: Session) -> None:
    """Serialise writers for the rest of the caller's transaction."""
    if db.get_bind().dialect.name == "postgresql":
        db.execute(select(func.pg_advisory_xact_lock(LOCK_KEY)))


def size(db: Session) -> int:
    last = db.scalar(select(func.max(LedgerEntry.idx)))
    return 0 if last is None else int(last) + 1


def append(db: Session, kind: str, fields: dict[str, FieldValue],
           now: datetime | None = None) -> int:
    """``portal.ledger.record``'s body: see there."""
    check(kind, fields)
    lock(db)
    index = size(db)
    at = now or datetime.now(UTC)
    salts = {name: new_salt() for name in TEXT_FIELDS if fields.get(name) is not None}
    body = build(index, kind, at, fields, salts)
    leaf = merkle.leaf_hash(body)
    actor, urn = fields.get("actor_id"), fields.get("urn")
    db.execute(insert(LedgerEntry).values(
        idx=index, kind=kind, at=at, body=body, leaf_hash=leaf,
        actor_id=actor if isinstance(actor, int) else None,
        urn=urn if isinstance(urn, int) else None))
    for name, salt in salts.items():
        db.execute(insert(LedgerReasonText).values(idx=index, salt=salt,
                                                   text=str(fields[name])))
    _add_nodes(db, index, leaf)
    return index


def _add_nodes(db: Session, index: int, leaf: bytes) -> None:
    """Store every perfect subtree this leaf completes (one on average)."""
    level, h = 0, leaf
    rows = []
    while index & 1:
        left = DbNodes(db).node(level, index - 1)
        h, index, level = merkle.node_hash(left, h), index >> 1, level + 1
        rows.append({"level": level, "idx": index, "hash": h})
    if rows:
        db.execute(insert(LedgerNode), rows)


class DbNodes:
    """A ``merkle.NodeSource`` over the stored leaf and node hashes."""

    def __init__(self, db: Session) -> None:
        self.db = db

    def node(self, level: int, index: int) -> bytes:
        return self.fetch([(level, index)])[(level, index)]

    def fetch(self, keys: Iterable[tuple[int, int]]) -> dict[tuple[int, int], bytes]:
        wanted = set(keys)
        found: dict[tuple[int, int], bytes] = {}
        leaves = [i for lv, i in wanted if lv == 0]
        if leaves:
            rows = self.db.execute(select(LedgerEntry.idx, LedgerEntry.leaf_hash)
                                   .where(LedgerEntry.idx.in_(leaves)))
            found.update({(0, int(i)): bytes(h) for i, h in rows})
        by_level: dict[int, list[int]] = {}
        for lv, i in wanted:
            if lv:
                by_level.setdefault(lv, []).append(i)
        if by_level:
            cond = or_(*(and_(LedgerNode.level == lv, LedgerNode.idx.in_(ids))
                         for lv, ids in by_level.items()))
            nodes = self.db.execute(select(LedgerNode.level, LedgerNode.idx, LedgerNode.hash)
                                    .where(cond))
            found.update({(int(lv), int(i)): bytes(h) for lv, i, h in nodes})
        missing = wanted - found.keys()
        if missing:
            lv, i = min(missing)
            raise merkle.ProofError(f"the ledger has no stored hash for node {lv}/{i}")
        return found


class _Recorder:
    def __init__(self) -> None:
        self.keys: list[tuple[int, int]] = []

    def node(self, level: int, index: int) -> bytes:
        self.keys.append((level, index))
        return bytes(merkle.HASH_SIZE)


class _Fetched:
    def __init__(self, found: dict[tuple[int, int], bytes]) -> None:
        self.found = found

    def node(self, level: int, index: int) -> bytes:
        return self.found[(level, index)]


def batched(db: Session, fn: Callable[[merkle.NodeSource], Any]) -> Any:
    """Run a proof function with every node it needs read in one or two queries: first with a
    recorder (the shape of a proof depends only on sizes), then with the fetched hashes."""
    recorder = _Recorder()
    fn(recorder)
    return fn(_Fetched(DbNodes(db).fetch(recorder.keys)))


def root(db: Session, tree_size: int) -> bytes:
    result: bytes = batched(db, lambda src: merkle.root(src, tree_size))
    return result


def inclusion_proof(db: Session, index: int, tree_size: int) -> list[bytes]:
    result: list[bytes] = batched(db, lambda s: merkle.inclusion_proof(s, index, tree_size))
    return result


def consistency_proof(db: Session, size1: int, size2: int) -> list[bytes]:
    result: list[bytes] = batched(db, lambda s: merkle.consistency_proof(s, size1, size2))
    return result


def latest_checkpoint(db: Session) -> LedgerCheckpoint | None:
    return db.scalars(select(LedgerCheckpoint).order_by(LedgerCheckpoint.size.desc())
                      .limit(1)).first()


def checkpoint(db: Session, config: LedgerConfig, *, force: bool = False,
               now: datetime | None = None) -> LedgerCheckpoint | None:
    """Sign a tree head if there are entries no checkpoint covers and the last one is older
    than the configured interval (or ``force``). Runs in the caller's transaction."""
    now = now or datetime.now(UTC)
    lock(db)
    n = size(db)
    last = latest_checkpoint(db)
    if n == 0 or (last is not None and last.size >= n):
        return None
    if not force and last is not None and (
            now - _aware(last.signed_at)).total_seconds() < config.checkpoint_every_s:
        return None
    note = sign(checkpoint_text(config.origin, n, root(db, n)), load_signer(config))
    row = LedgerCheckpoint(size=n, note=note, signed_at=now)
    db.add(row)
    db.flush()
    return row


def _aware(at: datetime) -> datetime:
    """SQLite hands back naive datetimes; every time the ledger stores is UTC."""
    return at if at.tzinfo else at.replace(tzinfo=UTC)


def cosigned_note(db: Session, row: LedgerCheckpoint) -> str:
    """The checkpoint with every witness's cosignature line that was stored for it."""
    lines = [row.note]
    for cos in db.scalars(select(LedgerCosignature).where(LedgerCosignature.size == row.size)
                          .order_by(LedgerCosignature.id)):
        extra = cos.note[len(row.note):] if cos.note.startswith(row.note) else ""
        lines.append(extra)
    return "".join(lines)
