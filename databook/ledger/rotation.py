"""Rotating the ledger's own signing key with no outage and nothing to re-trust by hand.

``databook audit rotate-key`` (portal host), in one transaction holding the ledger's lock:

1. appends a ``council_action`` entry ``ledger_key_rotated`` whose target is the NEW public
   key (a value the server chose);
2. signs the checkpoint covering it with BOTH keys (a signed note may carry several
   signatures): the old key vouches for a tree that announces the new key;
3. swaps the key file (the next checkpoint, by any portal process, is the new key's) and
   keeps the public half of every key the ledger used in ``ledger-keys/`` beside it.

Whoever trusts the old key therefore trusts the new one from the ledger itself: a checkpoint
of size ``s`` is the key's in force at ``s``, i.e. the key announced by the last rotation
entry at an index ``i`` with ``i + 1 < s`` (the checkpoint at exactly ``i + 1`` is the old
key's, and the new key's too). ``audit verify`` and the witness both follow that chain; a
rotation entry nobody holding the old key signed over is refused.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from databook.fsio import private_dir
from databook.ledger import merkle
from databook.ledger.config import KEY_FILE, LedgerConfig, load_signer
from databook.ledger.log import append, inclusion_proof, lock, root, size
from databook.ledger.models import LedgerCheckpoint, LedgerEntry
from databook.ledger.note import (
    Note,
    NoteError,
    Signature,
    Verifier,
    checkpoint_text,
    new_signer,
    parse_checkpoint,
    parse_vkey,
    verify,
)

ACTION = "ledger_key_rotated"
HISTORY_DIR = "ledger-keys"


@dataclass(frozen=True)
class Rotation:
    index: int  # the rotation entry's index
    key: Verifier  # the key it announced


def rotations(db: Session, since: int = 0) -> list[Rotation]:
    """Every rotation entry from index ``since`` on, in order."""
    found = []
    rows = db.execute(select(LedgerEntry.idx, LedgerEntry.body)
                      .where(LedgerEntry.kind == "council_action", LedgerEntry.idx >= since)
                      .order_by(LedgerEntry.idx))
    for idx, body in rows:
        try:
            obj = json.loads(bytes(body))
            if obj.get("action") == ACTION:
                found.append(Rotation(int(idx), parse_vkey(str(obj["target"]))))
        except (ValueError, KeyError, NoteError):
            continue
    return found


class KeyChain:
    """The key in force at each tree size, from a trusted starting key and the rotations."""

    def __init__(self, start: Verifier, changes: list[Rotation]) -> None:
        self.start, self.changes = start, changes

    def at(self, tree_size: int) -> Verifier:
        key = self.start
        for change in self.changes:
            if change.index + 1 < tree_size:
                key = change.key
        return key


def follow(db: Session, key: Verifier, since: int, upto: int) -> Verifier:
    """The key in force at ``upto`` for whoever trusted ``key`` at size ``since``: each
    rotation between is accepted only if the checkpoint right after its entry is signed by
    the key before it and includes that very entry. ``NoteError`` naming the one refused."""
    for change in rotations(db, max(since - 1, 0)):
        if change.index + 1 >= upto:
            break
        row = db.get(LedgerCheckpoint, change.index + 1)
        if row is None:
            raise NoteError(f"the key rotation at entry {change.index} has no checkpoint signed "
                            "by the key before it")
        head = parse_checkpoint(verify(row.note, key).text)
        body = db.scalar(select(LedgerEntry.body).where(LedgerEntry.idx == change.index))
        proof = inclusion_proof(db, change.index, head.size)
        try:
            merkle.verify_inclusion(change.index, head.size,
                                    merkle.leaf_hash(bytes(body or b"")), proof, head.root)
        except merkle.ProofError:
            raise NoteError(f"the key rotation at entry {change.index} is not the entry the "
                            "old key signed") from None
        key = change.key
    return key


def history_dir(config: LedgerConfig) -> Path:
    return config.state_dir / HISTORY_DIR


def first_key(config: LedgerConfig) -> Verifier | None:
    """The ledger's first key, from the history the rotations kept (None: never rotated)."""
    folder = history_dir(config)
    if not folder.is_dir():
        return None
    files = sorted(folder.glob("*.vkey"))
    return parse_vkey(files[0].read_text().strip()) if files else None


def _keep_public(config: LedgerConfig, number: int, key: Verifier) -> None:
    folder = private_dir(history_dir(config))
    path = folder / f"{number:04d}-{key.key_id.hex()}.vkey"
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(key.vkey() + "\n")


def rotate(db: Session, config: LedgerConfig, now: datetime | None = None) -> tuple[str, str]:
    """Rotate the ledger's key in the caller's transaction (commit follows at once); the old
    and new verifier keys. The key file is swapped while the ledger's lock is held, and put
    back if the transaction does not commit (the caller's ``except``: ``undo``)."""
    now = now or datetime.now(UTC)
    lock(db)
    old = load_signer(config, create=False)
    new = new_signer(config.origin)
    index = append(db, "council_action", {"action": ACTION, "target": new.verifier.vkey()},
                   now=now)
    n = size(db)
    text = checkpoint_text(config.origin, n, root(db, n))
    note = Note(text, tuple(Signature(s.name, s.verifier.key_id, s.private.sign(text.encode()))
                            for s in (old, new))).render()
    db.add(LedgerCheckpoint(size=n, note=note, signed_at=now))
    db.flush()
    count = len(list(history_dir(config).glob("*.vkey"))) if history_dir(config).is_dir() else 0
    if count == 0:
        _keep_public(config, 0, old.verifier)
        count = 1
    _keep_public(config, count, new.verifier)
    _write_key(config, new.skey())
    assert index + 1 == n
    return old.verifier.vkey(), new.verifier.vkey()


def undo(config: LedgerConfig, old_skey: str) -> None:
    _write_key(config, old_skey)


def _write_key(config: LedgerConfig, skey: str) -> None:
    path = config.state_dir / KEY_FILE
    tmp = path.with_name(f".{KEY_FILE}.{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(skey + "\n")
        out.flush()
        os.fsync(out.fileno())
    os.replace(tmp, path)
