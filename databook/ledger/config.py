"""Where the ledger lives and how it behaves, read once from the one settings object.

Every value comes from the ``[portal]`` table (``databook.toml`` or ``DATABOOK_PORTAL_*``,
checked by ``databook.portal_table`` with one-line errors), which both hosts read.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import time
from pathlib import Path

from sqlalchemy import Engine, inspect
from sqlalchemy.orm import Session

from databook.database import engine_for
from databook.ledger import sealing
from databook.ledger.note import NoteError, Signer, new_signer, parse_skey
from databook.settings import HostSettings

KEY_FILE = "ledger-signing.key"


class LedgerConfigError(Exception):
    """The ledger's configuration or key cannot be used; the message names which."""


@dataclass(frozen=True)
class LedgerConfig:
    state_dir: Path
    database_url: str
    origin: str = "databook.invalid/portal-ledger"
    checkpoint_every_s: int = 600
    school_day_start: time = time(7, 0)
    school_day_end: time = time(19, 0)
    burst_downloads: int = 5  # more than this many downloads by one user ...
    burst_window_s: int = 600  # ... within this many seconds is irregular
    burst_lookups: int = 20  # more than this many look-ups by one user in that window too
    failed_signins: int = 5  # this many failed sign-ins for one account in a day is irregular
    witness_name: str = "databook.invalid/council-witness"
    agreement_version: str | None = None  # the individual agreement users must have accepted
    witness: bool = True  # the nightly run co-signs the ledger (portal setting ``witness``)
    tail_s: int = 1  # the longest an entry stays unsigned (portal setting ledger_tail_seconds)

    @property
    def key_path(self) -> Path:
        return self.state_dir / KEY_FILE


def from_settings(settings: HostSettings) -> LedgerConfig:
    """The ledger's configuration from either host's settings (the ``[portal]`` table)."""
    portal = settings.portal
    return LedgerConfig(
        state_dir=portal.state_dir, database_url=portal.database_url,
        origin=portal.ledger_origin, checkpoint_every_s=portal.ledger_checkpoint_minutes * 60,
        school_day_start=portal.school_day_start, school_day_end=portal.school_day_end,
        witness_name=portal.ledger_witness_name, agreement_version=portal.agreement_version,
        witness=portal.witness, tail_s=portal.ledger_tail_seconds)


def load_signer(config: LedgerConfig, create: bool = True) -> Signer:
    """The ledger's Ed25519 key: a file in the portal's state folder, mode 0600, made on first
    use. Its own key, not the manifest signing key: the portal host never holds the keystore,
    and a leaked portal key cannot sign a databook."""
    path = config.key_path
    if not path.exists():
        if not create:
            raise LedgerConfigError(f"the ledger has no signing key at {path}")
        path.parent.mkdir(parents=True, exist_ok=True)
        signer = new_signer(config.origin)
        temp = path.with_name(f".{KEY_FILE}.{os.getpid()}")
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(signer.skey() + "\n")
        try:
            os.link(temp, path)  # atomic, and never replaces a key another worker made first
        except FileExistsError:
            return load_signer(config, create=False)
        finally:
            temp.unlink()
        return signer
    if path.stat().st_mode & 0o077:
        raise LedgerConfigError(f"{path} must be readable by its owner only (chmod 600)")
    try:
        signer = parse_skey(path.read_text().strip())
    except NoteError as exc:
        raise LedgerConfigError(f"{path}: {exc}") from None
    if signer.name != config.origin:
        raise LedgerConfigError(f"{path} is the key of {signer.name}, not of {config.origin}")
    return signer


class AuditError(Exception):
    """An audit command cannot run; the message is one safe line."""


def ledger_engine(config: LedgerConfig) -> Engine:
    """The portal database, which must already hold the ledger's tables (the portal makes
    them; an audit command never creates a database by mistake)."""
    url = config.database_url
    if url.startswith("sqlite:///") and not Path(url.removeprefix("sqlite:///")).is_file():
        raise AuditError(f"there is no portal database at {url.removeprefix('sqlite:///')} "
                         "yet: run `databook users add` or `databook portal serve` first (or "
                         "set DATABOOK_PORTAL_DATABASE_URL)")
    engine = engine_for(url)
    sealing.attach(engine, config.state_dir, create=False)  # on the portal host: its key
    if not inspect(engine).has_table("ledger_entries"):
        raise AuditError("the portal database has no ledger tables yet: run `databook users "
                         "add` or `databook portal serve` first")
    return engine


def session(engine: Engine) -> Session:
    return Session(engine, expire_on_commit=False)
