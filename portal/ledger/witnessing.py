"""One witness pass from the council's side, for ``databook audit witness`` and the nightly run.

The nightly run witnesses the ledger whatever became of the databook (published, blocked or
failed): the ledger's protection must not depend on the night's data. Where the nightly host
cannot reach the portal database (another network, or no portal yet) the pass is skipped and
says why; where it can, a rewritten, truncated or forked history is a ``WitnessError`` (one
line) and an alert, and never touches what was published.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy.exc import DBAPIError

from portal.ledger.config import LedgerConfig, LedgerConfigError, load_signer
from portal.ledger.note import Verifier, parse_vkey
from portal.ledger.sources import AuditError, ledger_engine, session, witness_signer
from portal.ledger.tail import fresh
from portal.ledger.witness import WitnessError, read_state, witness

STATE_FILE = Path("witness") / "ledger.json"


@dataclass(frozen=True)
class Outcome:
    """``status`` is cosigned, nothing (no checkpoint yet), skipped or disabled; ``message`` is
    one line of sizes, paths and names only."""

    status: str
    message: str
    size: int | None = None


def state_path(settings: Any) -> Path:
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


def run(settings: Any, config: LedgerConfig, *, skip_unreachable: bool,
        alert: bool = True) -> Outcome:
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
        signer = witness_signer(settings, config)
        with session(engine) as db:
            try:
                stale = fresh(db, config)  # issue 19: co-sign the whole ledger, not a stale head
                if stale is not None:
                    raise WitnessError(stale)
                done = witness(db, signer, state, log_key)
            except WitnessError as exc:
                if alert:
                    send_alert(settings, "ledger witness", "failed", str(exc))
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


def send_alert(settings: Any, what: str, status: str, error: str, report: str = "") -> list[str]:
    """The configured alert channels (``flows.alerts``), with a record-like message of ids and
    counts only; returns the channels that took it."""
    from flows.alerts import send

    return send(settings, {"run_id": what, "status": status, "error": error,
                           "report": report or "databook audit verify"})


__all__ = ["Outcome", "WitnessError", "run", "send_alert", "state_path"]
