"""Limits on guessing that hold per ACCOUNT, whatever address the guesses come from.

Counting failures per (email, client address) alone lets anyone with many addresses (one IPv6
/64, or any trusted-proxy set-up) guess for ever. A hard per-account lockout is no better: it
hands an attacker a switch that locks a DSL out at 08:30. So, as OWASP's "device cookie"
pattern and NCSC's throttling advice suggest, the account's limit is a STEP-UP DELAY, and a
device the account has signed in from before is not subject to it:

- Every failed step (password or second factor) is counted against the account (an HMAC of
  the typed email address, so an address with no account behaves exactly like one with an
  account). After ``FREE`` failures in ``WINDOW``, a device the account has not signed in from
  must wait ``BASE_S * 2 ** (failures - FREE)`` seconds (at most ``CAP_S``) after the latest
  failure before it may try again. An attempt made during the wait is refused without being
  checked (no hash, no count): it cannot lengthen the wait, so after at most ``CAP_S`` the
  right password works again from anywhere.
- A device that completed a sign-in to this account carries a signed cookie naming the
  account; it skips the account's wait and is counted on its own (the existing per-address
  lockout, keyed by the device instead of the address), so an attacker's flood never keeps the
  DSL's own browser out.
- Second-factor codes: at most ``FACTOR_PER_SESSION`` wrong codes per pending session (then
  the password is needed again), and at most ``FACTOR_PER_ACCOUNT`` per account in ``WINDOW``
  from devices the account has not used (whoever holds the password and guesses codes is
  stopped long before a 6-digit code falls; the officer's report shows the account).

Counts are rows of ``signin_backoff`` (one table for every key), so every worker sees them.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from portal.models import SigninBackoff
from portal.security import sessions

FREE = 10
BASE_S = 2
CAP_S = 15 * 60
WINDOW = timedelta(hours=24)
FACTOR_PER_SESSION = 5
FACTOR_PER_ACCOUNT = 20
#: How long a device cookie names the account (Chromium keeps a cookie at most 400 days).
DEVICE_DAYS = 180
DEVICE_SUFFIX = "-device"


def _key(secret: bytes, *parts: str) -> str:
    message = b"\0".join(part.encode() for part in parts)
    return hmac.new(secret, message, hashlib.sha256).hexdigest()


def account_key(secret: bytes, email: str) -> str:
    return _key(secret, "account", email.lower())


def factor_key(secret: bytes, email: str) -> str:
    return _key(secret, "factor", email.lower())


def session_key(secret: bytes, token_hash: str) -> str:
    """A pending session by its token's digest (row ids are reused once a row is deleted)."""
    return _key(secret, "pending", token_hash)


def delay_for(failures: int) -> int:
    """Seconds a new device must wait after the latest failure, given the window's count."""
    if failures < FREE:
        return 0
    return int(min(CAP_S, BASE_S * 2 ** min(failures - FREE, 20)))


@dataclass(frozen=True)
class Standing:
    """An account's failures in the window, and how long a new device must still wait."""

    failures: int = 0
    wait_s: int = 0


def standing(db: Session, secret: bytes, email: str, now: datetime | None = None) -> Standing:
    moment = now or sessions.now()
    count, last = db.execute(select(func.count(SigninBackoff.id), func.max(SigninBackoff.at))
                             .where(SigninBackoff.key == account_key(secret, email),
                                    SigninBackoff.at > moment - WINDOW)).one()
    count = int(count or 0)
    delay = delay_for(count)
    if not delay or last is None:
        return Standing(count, 0)
    left = (sessions.aware(last) + timedelta(seconds=delay) - moment).total_seconds()
    return Standing(count, max(0, int(left + 0.999)))


def count(db: Session, key: str, since: datetime) -> int:
    return int(db.scalar(select(func.count(SigninBackoff.id)).where(
        SigninBackoff.key == key, SigninBackoff.at > since)) or 0)


def add(db: Session, *keys: str, now: datetime | None = None) -> None:
    moment = now or sessions.now()
    db.add_all([SigninBackoff(key=key, at=moment) for key in keys])


# --- the device cookie ---------------------------------------------------------------------

def device_cookie(secret: bytes, email: str) -> str:
    """A new device's cookie for this account: a random id and an HMAC binding it to the
    account (nothing about the account is readable from it)."""
    nonce = secrets.token_urlsafe(16)
    return f"{nonce}.{_key(secret, 'device', email.lower(), nonce)[:32]}"


def device_of(secret: bytes, email: str, cookie: str | None) -> str | None:
    """The device id if ``cookie`` is a device cookie this portal gave THIS account."""
    if not cookie or len(cookie) > 100 or "." not in cookie:
        return None
    nonce, tag = cookie.split(".", 1)
    expected = _key(secret, "device", email.lower(), nonce)[:32]
    return nonce if hmac.compare_digest(tag.encode(), expected.encode()) else None


def wait_text(seconds: int) -> str:
    minutes = (seconds + 59) // 60
    if seconds < 60:
        return f"{seconds} second{'s' if seconds != 1 else ''}"
    return f"{minutes} minute{'s' if minutes != 1 else ''}"
