"""Receipts: what a user keeps to prove, offline and with only the ledger's public key, that
their download (or any entry) is in the log exactly as recorded."""

from __future__ import annotations

import base64
import binascii
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from databook.ledger import merkle
from databook.ledger.config import LedgerConfig, load_signer
from databook.ledger.entries import parse
from databook.ledger.log import checkpoint, cosigned_note, inclusion_proof, latest_checkpoint
from databook.ledger.models import LedgerEntry
from databook.ledger.note import NoteError, parse_checkpoint, parse_vkey, verify


class ReceiptError(Exception):
    """No receipt can be made, or a receipt does not verify; the message says why."""


def make(db: Session, index: int, config: LedgerConfig) -> dict[str, Any]:
    """Entry, index, the latest checkpoint (signed now if none covers the entry) and proof.
    Commits if it had to sign a checkpoint."""
    entry = db.get(LedgerEntry, index)
    if entry is None:
        raise ReceiptError(f"the ledger has no entry {index}")
    last = latest_checkpoint(db)
    if last is None or last.size <= index:
        last = checkpoint(db, config, force=True)
        db.commit()
        if last is None:
            raise ReceiptError(f"no checkpoint covers entry {index}")
    proof = inclusion_proof(db, index, last.size)
    return {
        "index": index,
        "entry": bytes(entry.body).decode(),
        "leaf_hash": bytes(entry.leaf_hash).hex(),
        "tree_size": last.size,
        "inclusion_proof": [base64.b64encode(h).decode() for h in proof],
        "checkpoint": cosigned_note(db, last),
        "public_key": load_signer(config).verifier.vkey(),
    }


def check(receipt: dict[str, Any], vkey: str) -> dict[str, Any]:
    """The entry's object if ``receipt`` is valid under the ledger key ``vkey`` (never the key
    inside the receipt, which anyone could replace); ReceiptError otherwise."""
    try:
        verifier = parse_vkey(vkey)
        note = verify(str(receipt["checkpoint"]), verifier)
        head = parse_checkpoint(note.text)
        entry = str(receipt["entry"]).encode()
        index = int(receipt["index"])
        proof = [base64.b64decode(p, validate=True) for p in receipt["inclusion_proof"]]
        obj = parse(entry)
    except (NoteError, KeyError, TypeError, ValueError, binascii.Error) as exc:
        raise ReceiptError(f"the receipt is malformed or not signed by the ledger: {exc}") from None
    if head.origin != verifier.name:
        raise ReceiptError("the checkpoint is for another log")
    if obj.get("index") != index:
        raise ReceiptError("the entry does not carry the receipt's index")
    try:
        merkle.verify_inclusion(index, head.size, merkle.leaf_hash(entry), proof, head.root)
    except merkle.ProofError as exc:
        raise ReceiptError(f"the entry is not in the signed tree: {exc}") from None
    return obj


def entry_index_of(db: Session, kind: str, actor_id: int) -> list[int]:
    """Indexes of one user's entries of a kind, newest first (the portal's "my receipts")."""
    rows = db.scalars(select(LedgerEntry.idx).where(LedgerEntry.kind == kind,
                                                    LedgerEntry.actor_id == actor_id)
                      .order_by(LedgerEntry.idx.desc()))
    return [int(i) for i in rows]
