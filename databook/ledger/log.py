"""Appending to the ledger, signing its tree heads, and proofs read from the database.

One linear log however many portal workers write: every append takes the log's lock first
(PostgreSQL: a transaction-scoped advisory lock; SQLite: ``databook.database.engine_for``
begins every transaction IMMEDIATE, which is the database-wide write lock), then takes the next
index. The primary key on the index is the backstop: a writer that somehow skipped the lock
fails rather than forking the log.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from sqlalchemy import (
    Connection,
    Table,
    and_,
    bindparam,
    event,
    func,
    insert,
    or_,
    select,
    tuple_,
)
from sqlalchemy.orm import Session

from databook.ledger import merkle, sealing
from databook.ledger.config import LedgerConfig, load_signer
from databook.ledger.entries import TEXT_FIELDS, FieldValue, build, check, new_salt
from databook.ledger.models import (
    LedgerCheckpoint,
    LedgerCosignature,
    LedgerEntry,
    LedgerNode,
    LedgerReasonText,
)
from databook.ledger.note import (
    NoteError,
    Signer,
    checkpoint_text,
    parse_checkpoint,
    sign,
    verify,
)

#: pg_advisory_xact_lock key: "databook ledger", so other users of the server do not collide.
LOCK_KEY = 0x6462_6C65_6467_6572 & 0x7FFF_FFFF_FFFF_FFFF

# The append's statements, built once: an append is on every portal request's path and the
# write lock is held while it runs, so it goes straight to the session's connection (no ORM
# unit of work, no statement construction per call). Ledger tables have no foreign keys, so
# their rows need not wait for the ORM's pending rows.
_ENTRIES = cast(Table, LedgerEntry.__table__)
_NODES = cast(Table, LedgerNode.__table__)
_LOCK = select(func.pg_advisory_xact_lock(LOCK_KEY))
_LAST = select(func.max(_ENTRIES.c.idx))
_ADD_ENTRY = insert(_ENTRIES)
_ADD_TEXT = insert(cast(Table, LedgerReasonText.__table__))
_ADD_NODES = insert(_NODES)
_LEAF = select(_ENTRIES.c.leaf_hash).where(_ENTRIES.c.idx == bindparam("idx"))
_NODES_AT = select(_NODES.c.level, _NODES.c.idx, _NODES.c.hash).where(
    tuple_(_NODES.c.level, _NODES.c.idx).in_(bindparam("keys", expanding=True)))


def lock(db: Session) -> None:
    """Serialise writers for the rest of the caller's transaction."""
    if db.get_bind().dialect.name == "postgresql":
        db.connection().execute(_LOCK)


def size(db: Session) -> int:
    last = db.connection().execute(_LAST).scalar()
    return 0 if last is None else int(last) + 1


def append(db: Session, kind: str, fields: dict[str, FieldValue],
           now: datetime | None = None) -> int:
    """``databook.ledger.record``'s body: see there."""
    check(kind, fields)
    key = sealing.key_of(db)
    if key is None:
        raise sealing.NoEntryKey("this process holds no ledger entry key, so it cannot append "
                                 "to the ledger (only the portal host can)")
    db.flush()  # the request's own pending rows first: the ledger's lock is held from here
    lock(db)
    conn = db.connection()
    index = size(db)
    at = now or datetime.now(UTC)
    salts = {name: new_salt() for name in TEXT_FIELDS if fields.get(name) is not None}
    body = build(index, kind, at, fields, salts)
    leaf = merkle.leaf_hash(body)
    actor, urn = fields.get("actor_id"), fields.get("urn")
    conn.execute(_ADD_ENTRY, {
        "idx": index, "kind": kind, "at": at, "body": body, "leaf_hash": leaf,
        "seal": sealing.seal(key, body),
        "actor_id": actor if isinstance(actor, int) else None,
        "urn": urn if isinstance(urn, int) else None})
    if salts:
        conn.execute(_ADD_TEXT, [{"idx": index, "salt": salt, "text": str(fields[name])}
                                 for name, salt in salts.items()])
    rows = completed_nodes(index, leaf, _left_siblings(conn, index))
    if rows:
        conn.execute(_ADD_NODES, rows)
    return index


def left_siblings(index: int) -> list[tuple[int, int]]:
    """The (level, index) of each stored node that leaf ``index`` completes a subtree with."""
    keys, level = [], 0
    while index & 1:
        keys.append((level, index - 1))
        index, level = index >> 1, level + 1
    return keys


def _left_siblings(conn: Connection, index: int) -> dict[tuple[int, int], bytes]:
    """Those nodes' hashes, in at most two reads (a leaf's, and the rest together)."""
    keys = left_siblings(index)
    found: dict[tuple[int, int], bytes] = {}
    if keys:
        found[keys[0]] = bytes(conn.execute(_LEAF, {"idx": keys[0][1]}).scalar_one())
    if len(keys) > 1:
        found.update({(int(lv), int(i)): bytes(h)
                      for lv, i, h in conn.execute(_NODES_AT, {"keys": keys[1:]})})
    missing = set(keys) - found.keys()
    if missing:
        lv, i = min(missing)
        raise merkle.ProofError(f"the ledger has no stored hash for node {lv}/{i}")
    return found


def completed_nodes(index: int, leaf: bytes,
                    siblings: dict[tuple[int, int], bytes]) -> list[dict[str, Any]]:
    """Every perfect subtree this leaf completes (one on average), as rows to store."""
    level, h = 0, leaf
    rows = []
    while index & 1:
        h = merkle.node_hash(siblings[(level, index - 1)], h)
        index, level = index >> 1, level + 1
        rows.append({"level": level, "idx": index, "hash": h})
    return rows


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
    than the configured interval (or ``force``). Runs in the caller's transaction.

    Only a head this host can prove (``databook.ledger.sealing``): every new entry sealed
    with the host's entry key, and the tree an extension of the last head this host signed;
    otherwise ``sealing.LedgerForged`` and nothing is signed. The new head is kept on the
    host once the transaction commits."""
    now = now or datetime.now(UTC)
    lock(db)
    n = size(db)
    last = latest_checkpoint(db)
    if n == 0 or (last is not None and last.size >= n):
        return None
    if not force and last is not None and (
            now - _aware(last.signed_at)).total_seconds() < config.checkpoint_every_s:
        return None
    signer = load_signer(config)
    head = sealing.extend(db, _entry_key(db, config), _host_head(db, config, signer, n), n)
    tree_root = root(db, n)
    if tree_root != head.root():
        raise sealing.LedgerForged("the stored tree nodes do not match the entries this "
                                   "host can prove: they were changed in the database")
    note = sign(checkpoint_text(config.origin, n, tree_root), signer)
    row = LedgerCheckpoint(size=n, note=note, signed_at=now)
    db.add(row)
    db.flush()
    event.listen(db, "after_commit", lambda _s: sealing.save_head(config.state_dir, head),
                 once=True)
    return row


def _entry_key(db: Session, config: LedgerConfig) -> bytes:
    key = sealing.key_of(db) or sealing.load_key(config.state_dir, create=False)
    if key is None:
        raise sealing.NoEntryKey(f"there is no ledger entry key in {config.state_dir}: only "
                                 "the portal host signs the ledger")
    return key


def _host_head(db: Session, config: LedgerConfig, signer: Signer,
               n: int) -> sealing.Frontier:
    """The last head this host signed. A host with none yet (a new portal, or one from
    before heads were kept) starts from the newest checkpoint its own key signed, rebuilt
    from the entries' bytes, or from nothing when no checkpoint exists."""
    head = sealing.load_head(config.state_dir)
    if head is not None:
        if head.size > n:
            raise sealing.LedgerForged(f"this host signed {head.size} entries but the database "
                                       f"holds {n}: the ledger was cut back")
        return head
    last = latest_checkpoint(db)
    if last is None:
        return sealing.Frontier()
    try:
        signed = parse_checkpoint(verify(last.note, signer.verifier).text)
    except NoteError as exc:
        raise sealing.LedgerForged(f"checkpoint {last.size}: {exc}") from None
    start = sealing.rebuild(db, _entry_key(db, config), signed.size)
    if start.root() != signed.root:
        raise sealing.LedgerForged(f"checkpoint {signed.size} does not match the stored "
                                   "entries")
    return start


def next_checkpoint_due(db: Session, config: LedgerConfig) -> datetime | None:
    """The earliest moment a new checkpoint can be due (the latest one's time plus the
    interval), or None when none is signed yet (due as soon as there is an entry)."""
    last = latest_checkpoint(db)
    if last is None:
        return None
    return _aware(last.signed_at) + timedelta(seconds=config.checkpoint_every_s)


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
