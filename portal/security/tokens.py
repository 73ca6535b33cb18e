"""Opaque tokens (sessions, enrolment links): 256 bits from the OS's CSPRNG, stored only as
their SHA-256, so the database alone never yields a working cookie or link."""

from __future__ import annotations

import hashlib
import hmac
import secrets


def new_token() -> str:
    return secrets.token_urlsafe(32)


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def csrf_token(key: bytes, bound_to: str) -> str:
    """A CSRF token bound to a session token (or an anonymous visitor's cookie): an attacker's
    page can neither read nor compute it."""
    return hmac.new(key, b"csrf\0" + bound_to.encode(), hashlib.sha256).hexdigest()


def csrf_ok(key: bytes, bound_to: str, presented: str) -> bool:
    return bool(presented) and hmac.compare_digest(csrf_token(key, bound_to), presented)
