"""Proving who someone is: password, then a second factor, with the lockout.

Lockout (Cyber Essentials 4.2.1 / NCSC): ``lockout_attempts`` failures (password or second
factor) within ``lockout_minutes`` lock sign-in for that email address FROM THAT CLIENT
ADDRESS (issue 19): a stranger elsewhere cannot hold a DSL's account locked, and an address
with no account is locked exactly like one with an account (same status, same page, no hash
either way), so the lockout tells nobody who has an account. While locked, even the right
password is refused (and costs no hash). The DSL's own sign-in (passkey or code) from their
own address is untouched by a stranger's failures.
Counts live in the database (``SigninBackoff``, keyed by an HMAC of both addresses), so
every worker sees the same number. Every attempt, good or bad, is a ledger entry.

A password check is three steps (``candidate``, ``verify``, ``settle_password``) so that the
hash runs between two short transactions, not inside one that holds the write lock.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from databook.ledger.log import lock as ledger_lock
from portal.context import PortalContext
from portal.events import Origin, record
from portal.models import Credential, SigninAttempt, SigninBackoff, User, WebSession
from portal.security import passkeys, sessions, totp


class SigninRefused(Exception):
    """Shown to the person as it is; ``reason`` is the ledger's word for it."""

    def __init__(self, reason: str, message: str, status: int = 401) -> None:
        super().__init__(message)
        self.reason, self.status = reason, status


LOCAL_OFF = ("Council officers sign in with their council account: use \"Sign in with your "
             "council account\" on the sign-in page.")
WRONG = ("The email address or password is not right. Check both and try again; if you have "
         "forgotten your password, ask the council for a new link.")
LOCKED = ("Too many failed attempts: sign-in for this email address from here is locked for "
          "up to {} minutes. Wait, then try again, or ring the council.")


def locked(user: User) -> bool:
    return user.locked_until is not None and sessions.aware(user.locked_until) > sessions.now()


def backoff_key(context: PortalContext, email: str, client: str | None) -> str:
    """The lockout's key: this email address from this client address (an HMAC: neither is
    stored in the clear, and an unknown address is counted like a known one)."""
    message = b"backoff\0" + email.lower().encode() + b"\0" + (client or "").encode()
    return hmac.new(context.hmac_key, message, hashlib.sha256).hexdigest()


def failures(db: Session, context: PortalContext, key: str) -> int:
    window = timedelta(minutes=context.portal.lockout_minutes)
    return int(db.scalar(select(func.count(SigninBackoff.id)).where(
        SigninBackoff.key == key, SigninBackoff.at > sessions.now() - window)) or 0)


def held(db: Session, context: PortalContext, key: str) -> bool:
    """Locked: as many failures as allowed, from this address for this email, in the window."""
    return failures(db, context, key) >= context.portal.lockout_attempts


def _failure(db: Session, context: PortalContext, user: User | None, reason: str,
             method: str, origin: Origin, email: str | None = None) -> None:
    """Record a failed attempt, and lock sign-in for this email from this address when it is
    one too many. ``email``: the address typed, for an account that does not exist."""
    who = origin if user is None else origin.as_user(user.id, user.email)
    record(db, "signin_failed", who, reason=reason, method=method)
    address = user.email if user is not None else email
    if address is None:
        return
    moment = sessions.now()
    if user is not None:
        db.add(SigninAttempt(user_id=user.id, at=moment, ok=False, reason=reason))
    key = backoff_key(context, address, origin.client)
    db.add(SigninBackoff(key=key, at=moment))
    db.flush()
    count = failures(db, context, key)
    if count == context.portal.lockout_attempts:
        until = moment + timedelta(minutes=context.portal.lockout_minutes)
        record(db, "lockout", who, until=until.strftime("%Y-%m-%dT%H:%M:%SZ"), failures=count)


@dataclass(frozen=True)
class Candidate:
    """What a short read transaction saw of an account: enough to check a password with NO
    transaction open, so ~24 ms of Argon2id never holds SQLite's write lock."""

    user_id: int | None = None
    stored: str | None = None
    was_locked: bool = False


def candidate(db: Session, email: str, context: PortalContext | None = None,
              client: str | None = None) -> Candidate:
    """Read step of a password check (writes nothing). With ``context``: whether sign-in for
    this email from ``client`` is locked, known account or not."""
    was_locked = context is not None and held(db, context,
                                              backoff_key(context, email, client))
    user = db.scalar(select(User).where(User.email == email))
    if user is None:
        return Candidate(was_locked=was_locked)
    return Candidate(user.id, user.password_hash, was_locked)


def verify(context: PortalContext, found: Candidate, password: str) -> bool | None:
    """Hash step, outside any transaction. ``None``: locked, so no hash is spent. An unknown
    account still costs a (dummy) hash, so timing does not tell who has an account."""
    if found.was_locked:
        return None
    return context.hashing.verify_sync(found.stored, password)


def settle_password(db: Session, context: PortalContext, email: str, found: Candidate,
                    good: bool | None, origin: Origin) -> User:
    """Write step: the user, if the password was right and the account may sign in; else
    SigninRefused (recorded in ``db``, which the caller must commit even though it refuses).

    The account is read again under the ledger's writer lock (SQLite: BEGIN IMMEDIATE;
    PostgreSQL: the advisory lock every ledger append takes, taken here FIRST so the lock
    order matches every other writer), because other attempts may have locked it, or its
    password may have changed, while the hash ran: this is what keeps concurrent attempts at
    exactly ``lockout_attempts``."""
    ledger_lock(db)
    user = db.scalar(select(User).where(User.email == email)
                     .execution_options(populate_existing=True))
    if good is None or held(db, context, backoff_key(context, email, origin.client)):
        who = origin if user is None else origin.as_user(user.id, user.email)
        record(db, "signin_failed", who, reason="locked", method="password")
        raise SigninRefused("locked", LOCKED.format(context.portal.lockout_minutes), 429)
    if user is None:
        _failure(db, context, None, "unknown_user", "password", origin, email)
        raise SigninRefused("unknown_user", WRONG)
    if user.state in ("left", "suspended"):
        _failure(db, context, user, "disabled", "password", origin)
        raise SigninRefused("disabled", WRONG)
    if not good or (user.id, user.password_hash) != (found.user_id, found.stored):
        _failure(db, context, user, "password", "password", origin)
        raise SigninRefused("password", WRONG)
    if user.role == "council" and not context.portal.council_local_signin:
        _failure(db, context, user, "local_signin_off", "password", origin)
        raise SigninRefused("local_signin_off", LOCAL_OFF, 403)
    return user


def current(db: Session, context: PortalContext, user: User, method: str,
            origin: Origin) -> None:
    """Before a second factor is checked: the account as it is NOW, read again under the
    ledger's writer lock (taken first, as every writer takes it). Concurrent attempts in other
    sessions may have locked it, or used this TOTP step, since ``user`` was read; on
    PostgreSQL nothing else orders them, so without this the lockout could be overrun."""
    ledger_lock(db)
    db.refresh(user)
    if held(db, context, backoff_key(context, user.email, origin.client)):
        record(db, "signin_failed", origin.as_user(user.id, user.email), reason="locked",
               method=method)
        raise SigninRefused("locked", "This account is locked for now after too many "
                             "failed attempts. Wait a few minutes, then try again.", 429)


def refuse_factor(db: Session, context: PortalContext, user: User, method: str,
                  origin: Origin, message: str) -> SigninRefused:
    _failure(db, context, user, "second_factor", method, origin)
    return SigninRefused("second_factor", message)


def check_totp(db: Session, context: PortalContext, user: User, code: str,
               origin: Origin) -> None:
    """Accept a code from one of the user's own TOTP credentials, once per time step."""
    current(db, context, user, "totp", origin)
    for credential in db.scalars(select(Credential).where(
            Credential.user_id == user.id, Credential.kind == "totp")):
        secret = context.totp.decrypt(credential.totp_secret or b"").decode()
        step = totp.matching_step(secret, code, credential.last_totp_step)
        if step is not None:
            credential.last_totp_step = step
            return
    raise refuse_factor(db, context, user, "totp", origin,
                        "That code is not right, or has already been used. Wait for the next "
                        "code and try again.")


def check_passkey(db: Session, context: PortalContext, user: User, row: WebSession,
                  body: str, origin: Origin) -> None:
    """Accept an assertion only from a passkey registered to THIS user, for the challenge
    this session was given (single use)."""
    current(db, context, user, "passkey", origin)
    challenge, row.challenge = row.challenge, None
    try:
        credential_id = passkeys.credential_id_of(body)
    except passkeys.PasskeyRejected as exc:
        raise refuse_factor(db, context, user, "passkey", origin, str(exc)) from None
    credential = db.scalar(select(Credential).where(Credential.credential_id == credential_id,
                                                    Credential.kind == "passkey"))
    if credential is None or credential.user_id != user.id or challenge is None:
        raise refuse_factor(db, context, user, "passkey", origin,
                            "That passkey is not registered to this account.")
    try:
        credential.sign_count = passkeys.verify_authentication(
            body, challenge=challenge, rp_id=context.portal.rp_id, origin=context.portal.origin,
            public_key=credential.public_key or b"", sign_count=credential.sign_count)
    except passkeys.PasskeyRejected as exc:
        raise refuse_factor(db, context, user, "passkey", origin, str(exc)) from None


def signed_in(db: Session, user: User, row: WebSession, method: str,
              origin: Origin) -> str:
    """Both factors passed: a NEW token at full privilege, the old one gone."""
    db.add(SigninAttempt(user_id=user.id, at=sessions.now(), ok=True, reason="ok"))
    token, _ = sessions.start(db, user.id, "full", replacing=row)
    record(db, "signin_ok", origin.as_user(user.id, user.email), method=method)
    return token


def landing(user: User) -> str:
    """Where a full sign-in goes: a council officer to the council pages (an officer holds no
    school and need not accept the DSL agreement), everyone else home."""
    return "/council" if user.role == "council" else "/"
