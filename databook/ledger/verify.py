"""``audit verify``: rebuild the whole tree from the stored entry bytes and hold every stored
hash, checkpoint and cosignature to it.

One pass over the entries in index order (O(n) hashes, streamed), so a million entries take
seconds, not hours. The first thing that does not match is named by its index or size; the
order of checks (entries, then the signed checkpoints and cosignatures, then the stored proof
nodes and reason texts) makes "first" mean the earliest signed evidence of tampering.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from databook.ledger import merkle, sealing
from databook.ledger.entries import commitment, parse
from databook.ledger.models import (
    LedgerCheckpoint,
    LedgerCosignature,
    LedgerEntry,
    LedgerNode,
    LedgerReasonText,
)
from databook.ledger.note import (
    NoteError,
    Verifier,
    parse_checkpoint,
    parse_vkey,
    verify,
    verify_cosignature,
)
from databook.ledger.rotation import KeyChain, rotations

BATCH = 20_000


class LedgerBroken(Exception):
    """The stored ledger does not match itself; the message names the first entry or
    checkpoint that does not."""


@dataclass(frozen=True)
class Verified:
    entries: int
    checkpoints: int
    cosignatures: int
    root: bytes


def _time(at: datetime) -> str:
    aware = at if at.tzinfo else at.replace(tzinfo=UTC)
    return aware.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _entries(db: Session, tree: merkle.MemoryTree, key: bytes | None,
             unsealed: list[int]) -> dict[int, str]:
    """Check every entry row; returns the reason commitments by index. With the host's entry
    ``key``, every seal is checked; entries with none are listed in ``unsealed`` (each must
    be under a signed checkpoint: from before seals existed)."""
    commitments: dict[int, str] = {}
    query = select(LedgerEntry.idx, LedgerEntry.kind, LedgerEntry.at, LedgerEntry.actor_id,
                   LedgerEntry.urn, LedgerEntry.body, LedgerEntry.leaf_hash, LedgerEntry.seal
                   ).order_by(LedgerEntry.idx).execution_options(yield_per=BATCH)
    rows = db.execute(query)
    while True:
        try:
            row = next(rows, None)
        except (ValueError, TypeError, OverflowError) as exc:  # a column the driver cannot read
            raise LedgerBroken(f"entry {_unreadable(db, query, tree.size)}: a column holds a "
                               f"value of the wrong type ({type(exc).__name__}): it was "
                               "changed in the database") from None
        if row is None:
            break
        try:
            _entry(tree, commitments, key, unsealed, *row)
        except LedgerBroken:
            raise
        except (ValueError, TypeError, AttributeError, OverflowError) as exc:
            raise LedgerBroken(f"entry {row[0]}: a column holds a value of the wrong type "
                               f"({type(exc).__name__}): it was changed in the database"
                               ) from None
    return commitments


def _unreadable(db: Session, query: Any, start: int) -> int | str:
    """Which row a batch could not be read for: each one from ``start`` alone (only when
    verify has already failed, so the one-by-one reads cost nothing in the normal case)."""
    for (idx,) in db.execute(select(LedgerEntry.idx).where(LedgerEntry.idx >= start)
                             .order_by(LedgerEntry.idx)):
        try:
            db.execute(query.where(LedgerEntry.idx == idx)).all()
        except (ValueError, TypeError, OverflowError):
            return int(idx)
    return f"{start} or later"


def _entry(tree: merkle.MemoryTree, commitments: dict[int, str], key: bytes | None,
           unsealed: list[int], idx: Any, kind: Any, at: Any, actor_id: Any, urn: Any,
           body: Any, stored_leaf: Any, stored_seal: Any) -> None:
    expected = tree.size
    if idx != expected:
        raise LedgerBroken(f"entry {expected} is missing (the next stored entry is {idx})")
    body = bytes(body)
    leaf = merkle.leaf_hash(body)
    if leaf != bytes(stored_leaf):
        raise LedgerBroken(f"entry {idx} does not match its stored leaf hash")
    try:
        obj = parse(body)
    except ValueError as exc:
        raise LedgerBroken(f"entry {idx} is not a canonical entry ({exc})") from None
    if obj.get("index") != idx:
        raise LedgerBroken(f"entry {idx} holds the entry recorded as {obj.get('index')} "
                           "(moved or reordered)")
    if (obj.get("kind"), obj.get("actor_id"), obj.get("urn"), obj.get("time")) != (
            kind, actor_id, urn, _time(at)):
        raise LedgerBroken(f"entry {idx}: its kind, actor, school or time columns do not "
                           "match its signed bytes")
    if "reason_commitment" in obj:
        commitments[idx] = str(obj["reason_commitment"])
    if stored_seal is None:
        unsealed.append(idx)
    elif key is not None and not sealing.sealed_by(key, body, bytes(stored_seal)):
        raise LedgerBroken(f"entry {idx} was not written by the portal: its seal does not "
                           "match (it was added or changed in the database)")
    tree.append(leaf)

def _nodes(db: Session, tree: merkle.MemoryTree) -> None:
    expected = sum(tree.size >> level for level in range(1, tree.size.bit_length()))
    seen = 0
    query = select(LedgerNode.level, LedgerNode.idx, LedgerNode.hash).order_by(
        LedgerNode.level, LedgerNode.idx).execution_options(yield_per=BATCH)
    for level, idx, h in db.execute(query):
        try:
            ok = level >= 1 and tree.node(level, idx) == bytes(h)
        except (merkle.ProofError, IndexError):
            ok = False
        if not ok:
            raise LedgerBroken(f"stored tree node {level}/{idx} does not match the entries "
                               f"(it covers entries {idx << level} to {((idx + 1) << level) - 1})")
        seen += 1
    if seen != expected:
        raise LedgerBroken(f"the ledger stores {seen} tree nodes where its entries make "
                           f"{expected}")


def _reasons(db: Session, commitments: dict[int, str]) -> None:
    query = select(LedgerReasonText.idx, LedgerReasonText.salt, LedgerReasonText.text
                   ).order_by(LedgerReasonText.idx).execution_options(yield_per=BATCH)
    for idx, salt, text in db.execute(query):
        if commitments.get(idx) != commitment(bytes(salt), text):
            raise LedgerBroken(f"the reason text kept for entry {idx} is not the one the entry "
                               "commits to")


def _checkpoints(db: Session, tree: merkle.MemoryTree, chain: KeyChain) -> int:
    """Each checkpoint with the ledger's key in force at its size (``databook.ledger.rotation``:
    a rotated key is the old key's announcement, inside a tree the old key signed)."""
    previous: tuple[int, bytes] | None = None
    count = 0
    for row in db.scalars(select(LedgerCheckpoint).order_by(LedgerCheckpoint.size)):
        verifier = chain.at(row.size)
        try:
            head = parse_checkpoint(verify(row.note, verifier).text)
        except NoteError as exc:
            raise LedgerBroken(f"checkpoint {row.size}: {exc}") from None
        if head.origin != verifier.name or head.size != row.size:
            raise LedgerBroken(f"checkpoint {row.size} is stored under the wrong size or log")
        if head.size > tree.size:
            raise LedgerBroken(f"checkpoint {head.size} covers entries the ledger no longer "
                               f"holds (it has {tree.size}): truncated")
        if tree.root(head.size) != head.root:
            raise LedgerBroken(f"checkpoint {head.size} does not match the stored entries: "
                               "history was rewritten")
        if previous is not None:
            proof = merkle.consistency_proof(tree, previous[0], head.size)
            try:
                merkle.verify_consistency(previous[0], head.size, previous[1], head.root, proof)
            except merkle.ProofError as exc:
                raise LedgerBroken(f"checkpoint {head.size}: {exc}") from None
        previous = (head.size, head.root)
        count += 1
    return count


def _cosignatures(db: Session, trusted: list[Verifier] | None) -> int:
    notes = {row.size: row.note for row in db.scalars(select(LedgerCheckpoint))}
    count = 0
    for row in db.scalars(select(LedgerCosignature).order_by(LedgerCosignature.id)):
        try:
            witness = parse_vkey(row.witness_vkey)
            if trusted is not None and witness not in trusted:
                raise NoteError("made by a witness key that is not trusted")
            verify_cosignature(row.note, witness)
        except NoteError as exc:
            raise LedgerBroken(f"cosignature of checkpoint {row.size}: {exc}") from None
        base = notes.get(row.size)
        if base is None or not row.note.startswith(base):
            raise LedgerBroken(f"the witness cosigned checkpoint {row.size}, which is no longer "
                               "stored as it was signed")
        count += 1
    return count


def verify_ledger(db: Session, verifier: Verifier,
                  trusted_witnesses: list[Verifier] | None = None,
                  entry_key: bytes | None = None,
                  host_head: sealing.Frontier | None = None) -> Verified:
    """Everything the database can show. On the portal host, ``entry_key`` (every entry's
    seal) and ``host_head`` (the last head the host signed: the database must still extend
    it) also catch what a writer of the database alone could otherwise hide."""
    tree = merkle.MemoryTree()
    unsealed: list[int] = []
    commitments = _entries(db, tree, entry_key, unsealed)
    if host_head is not None:
        if tree.size < host_head.size:
            raise LedgerBroken(f"the portal host signed {host_head.size} entries but the "
                               f"database holds {tree.size}: the ledger was cut back")
        if tree.root(host_head.size) != host_head.root():
            raise LedgerBroken(f"the first {host_head.size} entries are not the ones the "
                               "portal host signed: history was rewritten")
    checkpoints = _checkpoints(db, tree, KeyChain(verifier, rotations(db)))
    covered = max((row for row in db.scalars(select(LedgerCheckpoint.size))), default=0)
    late = [idx for idx in unsealed if idx >= covered]
    if late:
        raise LedgerBroken(f"entry {late[0]} carries no seal and no signed checkpoint covers "
                           "it: it was added in the database")
    cosignatures = _cosignatures(db, trusted_witnesses)
    _nodes(db, tree)
    _reasons(db, commitments)
    return Verified(tree.size, checkpoints, cosignatures,
                    tree.root() if tree.size else merkle.EMPTY_ROOT)
