"""The witness: a second party, with its own key and its own memory, that co-signs the ledger's
latest checkpoint only after checking it extends the last one it co-signed.

It runs where the council's keystore is (the nightly run, or ``databook audit witness``), not
on the portal host, and keeps what it last saw in its own state file, not in the portal's
database: someone who rewrites, truncates or forks the portal's database (even holding the
ledger's signing key) cannot also rewrite the witness's memory, so the next witness run fails.
"""

from __future__ import annotations

import base64
import json
import os
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy.orm import Session

from portal.ledger import merkle
from portal.ledger.log import consistency_proof, latest_checkpoint
from portal.ledger.models import LedgerCosignature
from portal.ledger.note import (
    Checkpoint,
    NoteError,
    Signer,
    Verifier,
    cosign,
    parse_checkpoint,
    parse_vkey,
    verify,
)

STATE_FORMAT = 1


class WitnessError(Exception):
    """The ledger failed the witness's check; the message is one safe line."""


@dataclass(frozen=True)
class WitnessState:
    log_vkey: str
    size: int
    root: bytes

    def to_json(self) -> str:
        return json.dumps({"format": STATE_FORMAT, "log_vkey": self.log_vkey, "size": self.size,
                           "root": base64.b64encode(self.root).decode()})


def read_state(path: Path) -> WitnessState | None:
    if not path.exists():
        return None
    try:
        data = json.loads(path.read_text())
        root = base64.b64decode(data["root"])
        return WitnessState(str(data["log_vkey"]), int(data["size"]), root)
    except (ValueError, KeyError, TypeError):
        raise WitnessError(f"the witness state {path} is damaged; restore it from backup") from None


def write_state(path: Path, state: WitnessState) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(fd, "w") as out:
        out.write(state.to_json())
        out.flush()
        os.fsync(out.fileno())
    os.replace(tmp, path)


@dataclass(frozen=True)
class Cosigned:
    size: int
    previous_size: int | None


def witness(db: Session, signer: Signer, state_path: Path, log_key: Verifier,
            now: datetime | None = None) -> Cosigned | None:
    """Check and co-sign the latest checkpoint; None when the ledger has no checkpoint yet.
    ``log_key`` is trusted only the first time: afterwards the key in the state is used."""
    state = read_state(state_path)
    if state is not None:
        log_key = parse_vkey(state.log_vkey)
    latest = latest_checkpoint(db)
    if latest is None:
        if state is not None:
            raise WitnessError(f"the ledger has no checkpoint, but the witness co-signed size "
                               f"{state.size}: history was deleted")
        return None
    try:
        head = parse_checkpoint(verify(latest.note, log_key).text)
    except NoteError as exc:
        raise WitnessError(f"the latest checkpoint ({latest.size}) is not the ledger's: {exc}") \
            from None
    if state is not None:
        _check_extends(db, state, head)
    at = now or datetime.now(UTC)
    line = cosign(latest.note, signer, int(at.timestamp())).line()
    db.add(LedgerCosignature(size=head.size, witness_vkey=signer.verifier.vkey(),
                             note=latest.note + line, signed_at=at))
    db.commit()
    write_state(state_path, WitnessState(log_key.vkey(), head.size, head.root))
    return Cosigned(head.size, None if state is None else state.size)


def _check_extends(db: Session, state: WitnessState, head: Checkpoint) -> None:
    if head.size < state.size:
        raise WitnessError(f"the ledger's latest checkpoint has {head.size} entries but the "
                           f"witness co-signed {state.size}: history was truncated")
    if head.size == state.size:
        if head.root != state.root:
            raise WitnessError(f"two different trees of size {head.size}: the ledger forked")
        return
    try:
        proof = consistency_proof(db, state.size, head.size)
        merkle.verify_consistency(state.size, head.size, state.root, head.root, proof)
    except merkle.ProofError as exc:
        raise WitnessError(f"checkpoint {head.size} does not extend checkpoint {state.size} "
                           f"that the witness co-signed: {exc}") from None
