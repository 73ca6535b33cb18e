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
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from databook.alerts import send_event
from databook.ledger import merkle
from databook.ledger.config import (
    AuditError,
    LedgerConfig,
    LedgerConfigError,
    ledger_engine,
    load_signer,
    session,
)
from databook.ledger.log import consistency_proof, latest_checkpoint
from databook.ledger.models import LedgerCosignature
from databook.ledger.note import (
    Checkpoint,
    NoteError,
    Signer,
    Verifier,
    cosign,
    parse_checkpoint,
    parse_vkey,
    verify,
)
from databook.ledger.tail import fresh
from databook.settings import HostSettings

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


# One pass from the council's side, for ``databook audit witness`` and the nightly run.
#
# The nightly run witnesses the ledger whatever became of the databook (published, blocked or
# failed): the ledger's protection must not depend on the night's data. Where the nightly host
# cannot reach the portal database (another network, or no portal yet) the pass is skipped and
# says why; where it can, a rewritten, truncated or forked history is a ``WitnessError`` (one
# line) and an alert, and never touches what was published. The witness's key comes from the
# caller (the keystore, on the nightly host), so this library never opens the keystore.

STATE_FILE = Path("witness") / "ledger.json"


@dataclass(frozen=True)
class Outcome:
    """``status`` is cosigned, nothing (no checkpoint yet), skipped or disabled; ``message`` is
    one line of sizes, paths and names only."""

    status: str
    message: str
    size: int | None = None


def state_path(settings: HostSettings) -> Path:
    """The witness's memory: under ``$DATABOOK_HOME`` with the keystore, never in the portal's
    database, so whoever rewrites that database cannot rewrite what the witness saw."""
    return Path(settings.home) / STATE_FILE


def _log_key(config: LedgerConfig, state: Path) -> Verifier:
    """The ledger's key: the one the witness pinned on its first pass, else (first pass) the
    portal's own key file."""
    pinned = read_state(state)
    if pinned is not None:
        return parse_vkey(pinned.log_vkey)
    return load_signer(config, create=False).verifier


def run(settings: HostSettings, config: LedgerConfig, witness_key: Callable[[], Signer], *,
        skip_unreachable: bool, alert: bool = True) -> Outcome:
    """Check and co-sign the latest checkpoint. ``skip_unreachable`` (the nightly run): a
    portal database or ledger key that is not here is a skip, not an error. A history that
    does not extend what was co-signed raises ``WitnessError`` after alerting."""
    if skip_unreachable and not config.witness:
        return Outcome("disabled", "the ledger witness is off (portal setting witness = false)")
    state = state_path(settings)
    engine = None
    try:
        engine = ledger_engine(config)
        log_key = _log_key(config, state)
    except (AuditError, LedgerConfigError, DBAPIError) as exc:
        if engine is not None:
            engine.dispose()
        if not skip_unreachable:
            raise
        why = (f"cannot reach the portal database ({type(exc).__name__})"
               if isinstance(exc, DBAPIError) else str(exc))
        return Outcome("skipped", f"ledger witness skipped: {why}")
    try:
        signer = witness_key()
        with session(engine) as db:
            try:
                stale = fresh(db, config)  # issue 19: co-sign the whole ledger, not a stale head
                if stale is not None:
                    raise WitnessError(stale)
                done = witness(db, signer, state, log_key)
            except WitnessError as exc:
                if alert:
                    send_event(settings, "ledger witness", "failed", str(exc))
                raise
    except DBAPIError as exc:
        if not skip_unreachable:
            raise
        return Outcome("skipped", f"ledger witness skipped: the portal database failed "
                                  f"({type(exc).__name__})")
    finally:
        engine.dispose()
    if done is None:
        return Outcome("nothing", "the ledger has no checkpoint yet: nothing to co-sign")
    return Outcome("cosigned", f"co-signed checkpoint {done.size} (previously "
                               f"{done.previous_size})", done.size)
