"""A signed drop, portal settings and enrolled users for the portal's tests (no Prefect run:
the portal only reads what the nightly run wrote, so a drop written with the same publish
functions and a real Ed25519 key is the real thing for it)."""

from __future__ import annotations

import os
import re
import time
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path

import pyotp
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import select

from databook.store import LocalStore
from flows.settings import NightlySettings, load
from portal.cli.portal import install_key
from portal.migrate import ready
from portal.models import Credential, User, UserSchool
from portal.security.keys import totp_cipher
from portal.security.passwords import HASHER
from publish import manifest
from publish.drop import Signing, new_run_id, write_run
from publish.keystore import SigningKey

SCHOOLS = {100001: "Alder Primary School", 100002: "Birch Academy", 100003: "Cedar C of E School"}
PASSWORD = "tortoise lantern quarry 42"
CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def write_drop(root: Path, key: SigningKey, as_at: date = date(2026, 11, 21)) -> str:
    """One published run: a file per school (random bytes stand for the encrypted workbook;
    the portal never opens it), a signed manifest, ``latest``."""
    files = [(f"{urn}.xlsx", os.urandom(2048 + urn % 97)) for urn in SCHOOLS]
    signing = Signing(key, None, {key.key_id: key.public_pem})  # type: ignore[arg-type]

    def manifest_for(written: dict[str, bytes], signing: Signing) -> bytes:
        entries = [manifest.entry_for(int(name[:-5]), "8881000", SCHOOLS[int(name[:-5])], name,
                                      data, [], 3) for name, data in written.items()]
        return manifest.build(run_id=run_id, as_at=as_at, generated_at=datetime.now(UTC),
                              source_rows={}, signing_key_id=key.key_id, entries=entries)

    run_id = new_run_id()
    write_run(LocalStore(root), run_id, files, manifest_for, signing)  # type: ignore[arg-type]
    return run_id


@dataclass
class Env:
    home: Path
    drop: Path
    key: SigningKey
    settings: NightlySettings
    run_id: str
    used_steps: dict[str, int] = field(default_factory=dict)

    def environ(self) -> dict[str, str]:
        return {"DATABOOK_HOME": str(self.home), "DATABOOK_DROP": str(self.drop)}

    def next_code(self, secret: str) -> str:
        """A TOTP code from a step not used yet (one step either side is accepted)."""
        now = int(time.time() // 30)
        step = max(now - 1, self.used_steps.get(secret, now - 2) + 1)
        if step > now + 1:
            time.sleep((step - 1) * 30 - time.time() + 0.5)
        self.used_steps[secret] = step
        return pyotp.TOTP(secret).at(step * 30)


def make_env(tmp: Path, base_url: str = "https://testserver", **extra: str) -> Env:
    home, drop = tmp / "home", tmp / "drop"
    key = SigningKey(Ed25519PrivateKey.generate())
    run_id = write_drop(drop, key)
    environ = {"DATABOOK_HOME": str(home), "DATABOOK_DROP": str(drop),
               "DATABOOK_PORTAL_BASE_URL": base_url, **extra}
    settings = load(environ=environ)
    portal = settings.portal
    install_key(key.public_pem, portal.trusted_keys_dir)
    sign_protocols(portal.database_url, list(SCHOOLS))
    return Env(home, drop, key, settings, run_id)


def sign_protocols(url: str, urns: list[int]) -> None:
    """Issue 11's register: these schools signed the current access protocol."""
    from portal.registers import store
    from portal.registers.record import SchoolRecord, Versions

    with ready(url).begin() as db:
        store.save(db, [SchoolRecord(urn=u, name=SCHOOLS[u], protocol_signed_on=date(2026, 9, 1),
                                     protocol_version=Versions.protocol) for u in urns])


def add_user(env: Env, email: str, urns: list[int], *, secret: str | None = None,
             agreed: bool | str = False) -> str:
    """A fully enrolled user (password and TOTP) at ``urns``; returns the TOTP secret.
    ``agreed``: True for the current agreement version, or the version accepted."""
    return enrol_user(env.settings, email, urns, secret=secret, agreed=agreed)


def enrol_user(settings: NightlySettings, email: str, urns: list[int], *, secret: str | None = None,
               agreed: bool | str = False) -> str:
    """``add_user`` for any portal settings (e.g. a real run's home)."""
    from portal.models import AgreementAcceptance

    portal = settings.portal
    secret = secret or pyotp.random_base32(32)
    now = datetime.now(UTC)
    with ready(portal.database_url).begin() as db:
        user = User(email=email, name=email.split("@")[0], role="dsl", state="active",
                    password_hash=HASHER.hash(PASSWORD), created_at=now)
        user.schools = [UserSchool(urn=u, added_at=now) for u in urns]
        db.add(user)
        db.flush()
        db.add(Credential(user_id=user.id, kind="totp", sign_count=0, last_totp_step=0,
                          totp_secret=totp_cipher(portal.state_dir).encrypt(secret.encode()),
                          created_at=now))
        if agreed:
            version = agreed if isinstance(agreed, str) else portal.agreement_version
            db.add(AgreementAcceptance(user_id=user.id, version=version,
                                       text_sha256="x", accepted_at=now))
    return secret


def user_id(env: Env, email: str) -> int:
    with ready(env.settings.portal.database_url)() as db:
        return int(db.scalar(select(User.id).where(User.email == email)) or 0)
