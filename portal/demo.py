"""Demo users for ``make portal``: fully enrolled (password and a TOTP secret, both printed),
so a newcomer can sign in without a passkey. Demo only: real users enrol from their link."""

from __future__ import annotations

from collections.abc import Sequence

from cryptography.fernet import Fernet
from sqlalchemy import select
from sqlalchemy.orm import Session

from databook.portal_table import PortalTable
from portal.events import COMMAND_LINE, record
from portal.migrate import ready
from portal.models import Credential, User, UserSchool
from portal.registers import store
from portal.registers.demo import record_for
from portal.registers.gate import today
from portal.registers.record import Versions
from portal.security import sessions
from portal.security.keys import totp_cipher
from portal.security.passwords import HASHER
from portal.security.totp import uri


def make_demo_users(portal: PortalTable, schools: Sequence[tuple[int, str]],
                    people: Sequence[tuple[str, str, str]], password: str) -> list[str]:
    """One user per school; an existing demo user is reset to the known password."""
    cipher = totp_cipher(portal.state_dir)
    lines = []
    with ready(portal.database_url, portal.state_dir).begin() as db:
        for (urn, school), (name, email, secret) in zip(schools, people, strict=False):
            user = db.scalar(select(User).where(User.email == email))
            moment = sessions.now()
            if user is None:
                user = User(email=email, name=name, role="dsl", state="active",
                            created_at=moment)
                db.add(user)
                db.flush()
                record(db, "user_added", COMMAND_LINE, target_id=user.id, target_email=email,
                       urn=urn, role="dsl")
            if not any(s.urn == urn for s in user.schools):
                user.schools.append(UserSchool(urn=urn, added_at=moment))
            _sign_in_with(db, cipher, user, secret, password)
            lines.append(f"{school} (URN {urn}): {email}\n  TOTP secret {secret}\n  "
                         f"{uri(secret, email)}")
        _signed_protocols(db, schools)
    return lines


def make_demo_officer(portal: PortalTable, person: tuple[str, str, str],
                      password: str) -> str:
    """A demo council officer (no school: the council's side of the demo), reset to the known
    password and TOTP secret like the demo DSLs; returns the lines to print."""
    name, email, secret = person
    with ready(portal.database_url, portal.state_dir).begin() as db:
        user = db.scalar(select(User).where(User.email == email))
        if user is None:
            user = User(email=email, name=name, role="council", state="active",
                        created_at=sessions.now())
            db.add(user)
            db.flush()
            record(db, "user_added", COMMAND_LINE, target_id=user.id, target_email=email,
                   role="council")
        user.role = "council"
        user.schools.clear()  # an officer holds no school
        _sign_in_with(db, totp_cipher(portal.state_dir), user, secret, password)
    return f"Council officer (the council pages): {email}\n  TOTP secret {secret}\n  " \
           f"{uri(secret, email)}"


def _sign_in_with(db: Session, cipher: Fernet, user: User, secret: str,
                  password: str) -> None:
    """Active, unlocked, the demo password and exactly one TOTP secret."""
    user.state, user.password_hash, user.locked_until = "active", HASHER.hash(password), None
    for old in db.scalars(select(Credential).where(Credential.user_id == user.id,
                                                   Credential.kind == "totp")):
        db.delete(old)
    db.add(Credential(user_id=user.id, kind="totp", sign_count=0, last_totp_step=0,
                      totp_secret=cipher.encrypt(secret.encode()), created_at=sessions.now()))


def _signed_protocols(db: Session, schools: Sequence[tuple[int, str]]) -> None:
    """The demo schools' register entries (no signed protocol, no download), as
    the governance demo makes them, unless the register already holds them."""
    missing = [(i, urn, name) for i, (urn, name) in enumerate(schools)
               if store.load(db, urn) is None]
    store.save(db, [record_for(i, urn, name, today(), Versions()) for i, urn, name in missing])
