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
from databook.fsio import private_dir
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
from databook.ledger.recovery import COPY_FILE, RecoveryError, extend_copy
from databook.ledger.rotation import follow
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
    private_dir(path.parent)
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
        try:
            head = parse_checkpoint(verify(latest.note, log_key).text)
        except NoteError:
            # A rotated ledger key, followed from the key trusted through the ledger itself.
            log_key = follow(db, log_key, state.size if state is not None else 0, latest.size)
            head = parse_checkpoint(verify(latest.note, log_key).text)
    except NoteError as exc:
        raise WitnessError(f"the latest checkpoint ({latest.size}) is not the ledger's: {exc}") \
            from None
    if state is not None:
        _check_extends(db, state, head)
    # Keep a copy of every entry co-signed (``databook.ledger.recovery``): after a restore
    # to an older backup it puts the lost entries back, byte for byte.
    try:
        extend_copy(db, state_path.with_name(COPY_FILE.name), head.size, head.root)
    except RecoveryError as exc:
        raise WitnessError(str(exc)) from None
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
# cannot reach the portal database (another network, or no portal yet) or trusts no ledger
# key, the pass is skipped, says why at WARNING and alerts the council (a witness that quietly
# stops witnessing protects nothing); where it can run, a rewritten, truncated or forked
# history is a ``WitnessError`` (one line) and an alert, and never touches what was published.
# The witness's key comes from the caller (the keystore, on the nightly host), so this library
# never opens the keystore; the ledger's key it needs is PUBLIC (``TRUSTED_KEY_FILE``).

STATE_FILE = Path("witness") / "ledger.json"
#: The portal ledger's public (verifier) key, as ``databook witness trust-key`` installed it
#: from ``databook audit public-key`` on the portal host: all the witness needs of the portal.
TRUSTED_KEY_FILE = Path("witness") / "ledger-key.vkey"


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


def trusted_key_path(settings: HostSettings) -> Path:
    return Path(settings.home) / TRUSTED_KEY_FILE


def trust_key(settings: HostSettings, config: LedgerConfig, vkey: str) -> Verifier:
    """Install the portal ledger's PUBLIC key for the witness (0600 in a 0700 folder). A key
    for another ledger (its name is not the configured origin) is refused."""
    try:
        key = parse_vkey(vkey.strip())
    except NoteError as exc:
        raise LedgerConfigError(f"not a ledger public key: {exc} (copy the line `databook "
                                "audit public-key` prints on the portal host)") from None
    if key.name != config.origin:
        raise LedgerConfigError(f"that key is for the ledger {key.name}, not {config.origin} "
                                "(portal setting ledger_origin)")
    path = trusted_key_path(settings)
    private_dir(path.parent)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(fd, "w") as out:
        out.write(key.vkey() + "\n")
    os.replace(tmp, path)
    return key


def _log_key(settings: HostSettings, config: LedgerConfig, state: Path) -> Verifier:
    """The ledger's key: the one the witness pinned on its first pass, else (first pass) the
    public key ``databook witness trust-key`` installed, else, on a single host, the portal's
    own key file (only its public half is used)."""
    pinned = read_state(state)
    if pinned is not None:
        return parse_vkey(pinned.log_vkey)
    trusted = trusted_key_path(settings)
    if trusted.exists():
        try:
            return parse_vkey(trusted.read_text().strip())
        except NoteError as exc:
            raise LedgerConfigError(f"{trusted}: {exc}") from None
    if not config.key_path.exists():
        raise LedgerConfigError("the witness trusts no ledger key yet: on the portal host run "
                                "`databook audit public-key`, and here `databook witness "
                                "trust-key` with its output")
    return load_signer(config, create=False).verifier


def _skipped(settings: HostSettings, why: str, alert: bool) -> Outcome:
    """A witness that cannot run tells the council (its caller logs it at WARNING)."""
    message = f"ledger witness skipped: {why}"
    if alert:
        send_event(settings, "ledger witness", "skipped", message)
    return Outcome("skipped", message)


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
        log_key = _log_key(settings, config, state)
    except (AuditError, LedgerConfigError, DBAPIError) as exc:
        if engine is not None:
            engine.dispose()
        if not skip_unreachable:
            raise
        why = (f"cannot reach the portal database ({type(exc).__name__}; the nightly host "
               "needs the portal's DATABOOK_PORTAL_DATABASE_URL)"
               if isinstance(exc, DBAPIError) else str(exc))
        return _skipped(settings, why, alert)
    try:
        signer = witness_key()
        with session(engine) as db:
            try:
                stale = fresh(db, config)  # co-sign the whole ledger, not a stale head
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
        return _skipped(settings, f"the portal database failed ({type(exc).__name__})", alert)
    finally:
        engine.dispose()
    if done is None:
        return Outcome("nothing", "the ledger has no checkpoint yet: nothing to co-sign")
    return Outcome("cosigned", f"co-signed checkpoint {done.size} (previously "
                               f"{done.previous_size})", done.size)
