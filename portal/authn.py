"""Proving who someone is: password, then a second factor, with the lockout.

Lockout (Cyber Essentials 4.2.1 / NCSC): ``lockout_attempts`` failures (password or second
factor) within ``lockout_minutes`` lock sign-in for that email address FROM THAT CLIENT
ADDRESS: a stranger elsewhere cannot hold a DSL's account locked, and an address
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
from portal.security import guard, passkeys, sessions, totp


class SigninRefused(Exception):
    """Shown to the person as it is; ``reason`` is the ledger's word for it."""

    def __init__(self, reason: str, message: str, status: int = 401) -> None:
        super().__init__(message)
        self.reason, self.status = reason, status


class AccessEnded(SigninRefused):
    """A left or suspended account signed in with its RIGHT password: still refused (no
    session is made), but told why and whom to ring rather than that the password is wrong.
    Only someone who knows the password learns the account's state; a wrong password on such
    an account gets ``WRONG`` exactly like any other, so nothing is enumerated."""

    def __init__(self, state: str) -> None:
        super().__init__("disabled", ACCESS_ENDED if state == "left" else SUSPENDED, 403)
        self.state = state


LOCAL_OFF = ("Council officers sign in with their council account: use \"Sign in with your "
             "council account\" on the sign-in page.")
WRONG = ("The email address or password is not right. Check both and try again; if you have "
         "forgotten your password, ask the council for a new link.")
LOCKED = ("Too many failed attempts: sign-in for this email address from here is locked for "
          "up to {} minutes. Wait, then try again, or ring the council.")
DELAYED = ("There have been too many failed attempts to sign in to this account, so a device "
           "it has not signed in from must wait: try again in {}. Your own computer, if you "
           "have signed in on it before, is not held up. If these attempts were not you, ring "
           "the council.")
ACCESS_ENDED = ("Your access to the safeguarding databook has ended. If you think this is "
                "wrong, contact the council.")
SUSPENDED = ("Your access to the safeguarding databook is suspended until the council "
             "confirms that you have left. If you have not left, contact the council.")
TOO_MANY_CODES = ("Too many wrong codes. Sign in again with your password; if this keeps "
                  "happening, ring the council.")


class Guarded:
    """Where an attempt comes from, as the limits see it: the client address, or the id of
    a device this account has signed in from before (``portal.security.guard``)."""

    def __init__(self, client: str | None, device: str | None) -> None:
        self.client, self.device = client, device

    @property
    def where(self) -> str | None:
        return f"device:{self.device}" if self.device else self.client


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
             method: str, origin: Origin, email: str | None = None,
             device: str | None = None, extra: tuple[str, ...] = ()) -> None:
    """Record a failed attempt: against this email from this address (or known device),
    locking that pair when it is one too many, and against the ACCOUNT, whose step-up delay
    starts at ``guard.FREE`` (recorded once as ``account_delayed`` for the officer's report).
    ``email``: the address typed, for an account that does not exist; ``extra``: further
    ``guard`` keys (a second factor's)."""
    who = origin if user is None else origin.as_user(user.id, user.email)
    record(db, "signin_failed", who, reason=reason, method=method)
    address = user.email if user is not None else email
    if address is None:
        return
    moment = sessions.now()
    if user is not None:
        db.add(SigninAttempt(user_id=user.id, at=moment, ok=False, reason=reason))
    key = backoff_key(context, address, Guarded(origin.client, device).where)
    guard.add(db, key, guard.account_key(context.hmac_key, address), *extra, now=moment)
    db.flush()
    count = failures(db, context, key)
    if count == context.portal.lockout_attempts:
        until = moment + timedelta(minutes=context.portal.lockout_minutes)
        record(db, "lockout", who, until=until.strftime("%Y-%m-%dT%H:%M:%SZ"), failures=count)
    if user is not None:
        standing = guard.standing(db, context.hmac_key, address, moment)
        if standing.failures == guard.FREE:
            record(db, "account_delayed", who, failures=standing.failures,
                   delay_s=guard.delay_for(standing.failures))


@dataclass(frozen=True)
class Candidate:
    """What a short read transaction saw of an account: enough to check a password with NO
    transaction open, so ~24 ms of Argon2id never holds SQLite's write lock."""

    user_id: int | None = None
    stored: str | None = None
    was_locked: bool = False
    wait_s: int = 0


def candidate(db: Session, email: str, context: PortalContext | None = None,
              client: str | None = None, device: str | None = None) -> Candidate:
    """Read step of a password check (writes nothing). With ``context``: whether sign-in for
    this email from ``client`` (or known ``device``) is locked, and how long a device the
    account has not used must still wait, known account or not."""
    was_locked, wait_s = False, 0
    if context is not None:
        was_locked = held(db, context, backoff_key(context, email, Guarded(client,
                                                                           device).where))
        if device is None:
            wait_s = guard.standing(db, context.hmac_key, email).wait_s
    user = db.scalar(select(User).where(User.email == email))
    if user is None:
        return Candidate(was_locked=was_locked, wait_s=wait_s)
    return Candidate(user.id, user.password_hash, was_locked, wait_s)


def verify(context: PortalContext, found: Candidate, password: str) -> bool | None:
    """Hash step, outside any transaction. ``None``: locked or delayed, so no hash is spent.
    An unknown account still costs a (dummy) hash, so timing does not tell who has one."""
    if found.was_locked or found.wait_s:
        return None
    return context.hashing.verify_sync(found.stored, password)


def settle_password(db: Session, context: PortalContext, email: str, found: Candidate,
                    good: bool | None, origin: Origin, device: str | None = None) -> User:
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
    who = origin if user is None else origin.as_user(user.id, user.email)
    if held(db, context, backoff_key(context, email, Guarded(origin.client, device).where)) \
            or (good is None and not found.wait_s):
        record(db, "signin_failed", who, reason="locked", method="password")
        raise SigninRefused("locked", LOCKED.format(context.portal.lockout_minutes), 429)
    wait_s = 0 if device else guard.standing(db, context.hmac_key, email).wait_s
    if good is None or wait_s:
        record(db, "signin_failed", who, reason="delayed", method="password")
        raise SigninRefused("delayed", DELAYED.format(guard.wait_text(
            max(wait_s, found.wait_s))), 429)
    if user is None:
        _failure(db, context, None, "unknown_user", "password", origin, email, device)
        raise SigninRefused("unknown_user", WRONG)
    right = bool(good) and (user.id, user.password_hash) == (found.user_id, found.stored)
    if user.state in ("left", "suspended"):
        # counted like any failure (the per-account limits apply); only the right password
        # earns the page that says what happened.
        _failure(db, context, user, "disabled", "password", origin, device=device)
        raise AccessEnded(user.state) if right else SigninRefused("disabled", WRONG)
    if not right:
        _failure(db, context, user, "password", "password", origin, device=device)
        raise SigninRefused("password", WRONG)
    if user.role == "council" and not context.portal.council_local_signin:
        _failure(db, context, user, "local_signin_off", "password", origin)
        raise SigninRefused("local_signin_off", LOCAL_OFF, 403)
    return user


def current(db: Session, context: PortalContext, user: User, method: str,
            origin: Origin, row: WebSession | None = None, device: str | None = None) -> None:
    """Before a second factor is checked: the account as it is NOW, read again under the
    ledger's writer lock (taken first, as every writer takes it). Concurrent attempts in other
    sessions may have locked it, or used this TOTP step, since ``user`` was read; on
    PostgreSQL nothing else orders them, so without this the lockout could be overrun.
    Then the per-account limits (``portal.security.guard``): the step-up delay and the cap on
    wrong codes for a device the account has not used, and the cap per pending session (that
    session ends: the password is needed again)."""
    ledger_lock(db)
    db.refresh(user)
    who = origin.as_user(user.id, user.email)
    if held(db, context, backoff_key(context, user.email, Guarded(origin.client,
                                                                  device).where)):
        record(db, "signin_failed", who, reason="locked", method=method)
        raise SigninRefused("locked", "This account is locked for now after too many "
                             "failed attempts. Wait a few minutes, then try again.", 429)
    since = sessions.now() - guard.WINDOW
    if row is not None and guard.count(db, guard.session_key(context.hmac_key, row.token_hash),
                                       since) >= guard.FACTOR_PER_SESSION:
        db.delete(row)
        record(db, "signin_failed", who, reason="too_many_codes", method=method)
        raise SigninRefused("too_many_codes", TOO_MANY_CODES, 429)
    if device is not None:
        return
    wait_s = guard.standing(db, context.hmac_key, user.email).wait_s
    if wait_s:
        record(db, "signin_failed", who, reason="delayed", method=method)
        raise SigninRefused("delayed", DELAYED.format(guard.wait_text(wait_s)), 429)
    if guard.count(db, guard.factor_key(context.hmac_key, user.email),
                   since) >= guard.FACTOR_PER_ACCOUNT:
        record(db, "signin_failed", who, reason="too_many_codes", method=method)
        raise SigninRefused("too_many_codes", TOO_MANY_CODES, 429)


def refuse_factor(db: Session, context: PortalContext, user: User, method: str,
                  origin: Origin, message: str, row: WebSession | None = None,
                  device: str | None = None) -> SigninRefused:
    extra = [guard.factor_key(context.hmac_key, user.email)]
    if row is not None:
        extra.append(guard.session_key(context.hmac_key, row.token_hash))
    _failure(db, context, user, "second_factor", method, origin, device=device,
             extra=tuple(extra))
    return SigninRefused("second_factor", message)


def check_totp(db: Session, context: PortalContext, user: User, code: str,
               origin: Origin, row: WebSession | None = None,
               device: str | None = None) -> None:
    """Accept a code from one of the user's own TOTP credentials, once per time step."""
    current(db, context, user, "totp", origin, row, device)
    for credential in db.scalars(select(Credential).where(
            Credential.user_id == user.id, Credential.kind == "totp")):
        secret = context.totp.decrypt(credential.totp_secret or b"").decode()
        step = totp.matching_step(secret, code, credential.last_totp_step)
        if step is not None:
            credential.last_totp_step = step
            return
    raise refuse_factor(db, context, user, "totp", origin,
                        "That code is not right, or has already been used. Wait for the next "
                        "code and try again.", row, device)


def check_passkey(db: Session, context: PortalContext, user: User, row: WebSession,
                  body: str, origin: Origin, device: str | None = None) -> None:
    """Accept an assertion only from a passkey registered to THIS user, for the challenge
    this session was given (single use)."""
    current(db, context, user, "passkey", origin, row, device)
    challenge, row.challenge = row.challenge, None
    try:
        credential_id = passkeys.credential_id_of(body)
    except passkeys.PasskeyRejected as exc:
        raise refuse_factor(db, context, user, "passkey", origin, str(exc), row,
                                device) from None
    credential = db.scalar(select(Credential).where(Credential.credential_id == credential_id,
                                                    Credential.kind == "passkey"))
    if credential is None or credential.user_id != user.id or challenge is None:
        raise refuse_factor(db, context, user, "passkey", origin,
                            "That passkey is not registered to this account.", row, device)
    try:
        credential.sign_count = passkeys.verify_authentication(
            body, challenge=challenge, rp_id=context.portal.rp_id, origin=context.portal.origin,
            public_key=credential.public_key or b"", sign_count=credential.sign_count)
    except passkeys.PasskeyRejected as exc:
        raise refuse_factor(db, context, user, "passkey", origin, str(exc), row,
                                device) from None


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
