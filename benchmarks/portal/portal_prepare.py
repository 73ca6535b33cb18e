"""Set up the portal benchmark's county in a fresh ``DATABOOK_HOME``: a signed drop with one
file per school, the portal trusting its key, and N fully enrolled DSLs (password, TOTP,
agreement accepted, their school's protocol signed), made with the portal's own account
functions so every row and ledger entry is what a council officer's commands would make.

Files are random bytes of a real workbook's size (12 to 40 KB): the portal never opens a
workbook, it checks its SHA-256 against the signed manifest and serves the bytes, so their
content does not change what is measured. One Argon2id hash is made and given to every
account (each has its own TOTP secret): verifying it costs the same as a per-user hash, and
600 hashes would only time the set-up.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from portal_bench_users import PASSWORD, email_for, secret_for, urn_for
from sqlalchemy import func, select

from databook.ledger.models import LedgerEntry
from databook.store import LocalStore
from flows.settings import NightlySettings, load
from portal.accounts import add_user
from portal.cli.portal import install_key
from portal.events import COMMAND_LINE
from portal.migrate import ready
from portal.models import AgreementAcceptance, Credential
from portal.security.keys import totp_cipher
from portal.security.passwords import HASHER
from publish import manifest
from publish.drop import Signing, new_run_id, write_run
from publish.keystore import SigningKey


@dataclass(frozen=True)
class County:
    environ: dict[str, str]
    settings: NightlySettings
    run_id: str
    users: int
    ledger_before: int  # entries made by the set-up: the benchmark's own start after these


def write_drop(drop: Path, key: SigningKey, users: int) -> str:
    """One published run with a file per school, a signed manifest and ``latest``."""
    files = [(f"{urn_for(i)}.xlsx", os.urandom(12_288 + (i * 7919) % 28_672))
             for i in range(users)]
    signing = Signing(key, None, {key.key_id: key.public_pem})  # type: ignore[arg-type]
    run_id = new_run_id()

    def manifest_for(written: dict[str, bytes], signing: Signing) -> bytes:
        entries = [manifest.entry_for(int(name[:-5]), "8881000", f"Bench School {name[:-5]}",
                                      name, data, [], 20) for name, data in written.items()]
        return manifest.build(run_id=run_id, as_at=date.today(), generated_at=datetime.now(UTC),
                              source_rows={}, signing_key_id=key.key_id, entries=entries)

    write_run(LocalStore(drop), run_id, files, manifest_for, signing)  # type: ignore[arg-type]
    return run_id


def enrol(settings: NightlySettings, users: int) -> int:
    """N active DSLs, one school each, ready to sign in; returns the ledger's size after."""
    from portal.registers import store
    from portal.registers.record import SchoolRecord, Versions

    portal = settings.portal
    cipher = totp_cipher(portal.state_dir)
    shared_hash = HASHER.hash(PASSWORD)
    now = datetime.now(UTC)
    with ready(portal.database_url, portal.state_dir).begin() as db:
        for i in range(users):
            user, _link = add_user(db, portal, urn=urn_for(i), name=f"Bench DSL {i}",
                                   email=email_for(i), role="dsl", origin=COMMAND_LINE)
            user.state, user.password_hash = "active", shared_hash
            db.add(Credential(user_id=user.id, kind="totp", sign_count=0, last_totp_step=0,
                              totp_secret=cipher.encrypt(secret_for(i).encode()),
                              created_at=now))
            db.add(AgreementAcceptance(user_id=user.id, version=portal.agreement_version,
                                       text_sha256="bench", accepted_at=now))
        store.save(db, [SchoolRecord(urn=urn_for(i), name=f"Bench School {urn_for(i)}",
                                     protocol_signed_on=date(2026, 9, 1),
                                     protocol_version=Versions.protocol)
                        for i in range(users)])
    with ready(portal.database_url, portal.state_dir)() as db:
        return int(db.scalar(select(func.count()).select_from(LedgerEntry)) or 0)


def prepare(home: Path, users: int, database_url: str | None, base_url: str) -> County:
    home.mkdir(parents=True, exist_ok=True, mode=0o700)
    drop = home / "drop"
    environ = {"DATABOOK_HOME": str(home), "DATABOOK_DROP": str(drop),
               "DATABOOK_PORTAL_BASE_URL": base_url}
    if database_url:
        environ["DATABOOK_PORTAL_DATABASE_URL"] = database_url
    settings = load(environ=environ)
    key = SigningKey(Ed25519PrivateKey.generate())
    run_id = write_drop(drop, key, users)
    install_key(key.public_pem, settings.portal.trusted_keys_dir)
    before = enrol(settings, users)
    return County(environ, settings, run_id, users, before)
