"""Where the ledger lives and how it behaves, read once from the one settings object.

Every value comes from ``PortalSettings`` (``[portal]`` in ``databook.toml`` or
``DATABOOK_PORTAL_*``, checked there with one-line errors); without portal settings (a bare
``Settings`` in a test) the portal's defaults under ``$DATABOOK_HOME/portal/`` apply.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import time
from pathlib import Path
from typing import Any

from portal.ledger.note import NoteError, Signer, new_signer, parse_skey

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
    failed_signins: int = 5  # this many failed sign-ins for one account in a day is irregular
    witness_name: str = "databook.invalid/council-witness"
    agreement_version: str | None = None  # the individual agreement users must have accepted
    witness: bool = True  # the nightly run co-signs the ledger (portal setting ``witness``)
    tail_s: int = 1  # the longest an entry stays unsigned (portal setting ledger_tail_seconds)

    @property
    def key_path(self) -> Path:
        return self.state_dir / KEY_FILE


def _get(settings: Any, name: str, default: Any) -> Any:
    value = getattr(settings, name, None)
    return default if value in (None, "") else value


def from_settings(settings: Any) -> LedgerConfig:
    """The ledger's configuration from ``flows.settings.Settings``: the portal's database and
    state folder from ``settings.portal`` (``portal.config.PortalSettings``) when it is there,
    else the portal's own defaults under ``$DATABOOK_HOME/portal``; ``ledger_*`` attributes of
    the portal settings where it has them."""
    portal = getattr(settings, "portal", None)
    home = Path(settings.home)
    state = Path(_get(portal, "state_dir", home / "portal" / "state"))
    url = str(_get(portal, "database_url", f"sqlite:///{home / 'portal' / 'portal.sqlite'}"))
    defaults = LedgerConfig(state, url)
    return LedgerConfig(
        state_dir=state, database_url=url,
        origin=str(_get(portal, "ledger_origin", defaults.origin)),
        checkpoint_every_s=int(_get(portal, "ledger_checkpoint_minutes",
                                    defaults.checkpoint_every_s // 60)) * 60,
        school_day_start=_get(portal, "school_day_start", defaults.school_day_start),
        school_day_end=_get(portal, "school_day_end", defaults.school_day_end),
        witness_name=str(_get(portal, "ledger_witness_name", defaults.witness_name)),
        agreement_version=_get(portal, "agreement_version", None),
        witness=bool(getattr(portal, "witness", defaults.witness)),
        tail_s=int(_get(portal, "ledger_tail_seconds", defaults.tail_s)),
    )


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
