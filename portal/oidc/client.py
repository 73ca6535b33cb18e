"""The OpenID Connect relying party, on Authlib's documented client API (``OAuth2Session``:
authorization URL with PKCE, the code exchange) and its ID token claims
(``authlib.oidc.core.CodeIDToken``, validated as Authlib's own clients do, over ``joserfc``).

What this module decides, each refusal with one clear message and one ``signin_failed``
ledger entry (``method = oidc``, ``reason`` one of ``REASONS``):

- the provider's discovery document names exactly the configured issuer, and so does the ID
  token's ``iss`` (and the authorisation response's ``iss``, RFC 9207, when it sends one);
- the state is one this portal issued, to this browser, less than ten minutes ago, and is used
  once; the ID token's nonce is that sign-in's; its signature, audience and expiry hold;
- the provider asserts MFA (``oidc_mfa_claim`` holds one of ``oidc_mfa_values``);
- the person is in the council's group (``oidc_group_claim`` holds ``oidc_council_group``):
  nobody outside it gets an account.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
import threading
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import requests
from authlib.common.security import generate_token
from authlib.integrations.requests_client import OAuth2Session
from authlib.oidc.core import CodeIDToken
from joserfc import jwt
from joserfc.errors import ClaimError, JoseError
from joserfc.jwk import KeySet
from joserfc.jws import JWSRegistry
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from databook.portal_table import PortalTable
from portal.oidc.models import OidcPending
from portal.security import sessions

log = logging.getLogger("databook.portal")
PENDING = timedelta(minutes=10)
TIMEOUT = 10
DISCOVERY_TTL = 3600
LEEWAY = 60
COOKIE = "databook_oidc"

#: Why a provider sign-in was refused (the ledger's ``reason``) and what the person is told.
REASONS = {
    "oidc_state": "This sign-in has expired or was already used. Start again from the "
                  "sign-in page.",
    "oidc_issuer": "The sign-in did not come from the council's identity provider.",
    "oidc_token": "The identity provider's answer could not be verified (it may have "
                  "expired). Start again from the sign-in page.",
    "oidc_mfa": "Your sign-in did not use multi-factor authentication, which this service "
                "requires. Sign in again with your second factor.",
    "oidc_group": "Your council account is not in the group allowed to use this service. "
                  "Ask your information governance team.",
    "oidc_provider": "The council's identity provider could not be reached or refused the "
                     "sign-in. Try again shortly.",
    "disabled": "This account cannot sign in. Ask your information governance team.",
}


class Refused(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(REASONS[reason])
        self.reason = reason


@dataclass(frozen=True)
class Person:
    """All that is kept of a verified sign-in."""

    subject: str
    email: str


_DISCOVERED: dict[str, tuple[float, dict[str, Any]]] = {}
_LOCK = threading.Lock()


def digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def metadata(portal: PortalTable) -> dict[str, Any]:
    """The provider's discovery document (cached an hour), which must name our issuer."""
    issuer = portal.oidc_issuer
    with _LOCK:
        found = _DISCOVERED.get(issuer)
        if found is not None and time.monotonic() - found[0] < DISCOVERY_TTL:
            return found[1]
    try:
        response = requests.get(f"{issuer}/.well-known/openid-configuration", timeout=TIMEOUT)
        response.raise_for_status()
        document: dict[str, Any] = response.json()
    except (requests.RequestException, ValueError):
        raise Refused("oidc_provider") from None
    if document.get("issuer") != issuer:
        raise Refused("oidc_issuer")
    with _LOCK:
        _DISCOVERED[issuer] = (time.monotonic(), document)
    return document


def forget_discovery() -> None:
    with _LOCK:
        _DISCOVERED.clear()


def redirect_uri(portal: PortalTable) -> str:
    return f"{portal.base_url}/signin/council/callback"


def _client(portal: PortalTable) -> OAuth2Session:
    return OAuth2Session(portal.oidc_client_id, portal.oidc_client_secret,
                         scope=portal.oidc_scopes, redirect_uri=redirect_uri(portal),
                         code_challenge_method="S256")


def start(db: Session, portal: PortalTable) -> tuple[str, str]:
    """(the provider's authorisation URL, the browser cookie binding this sign-in)."""
    document = metadata(portal)
    state, nonce, verifier = generate_token(32), generate_token(32), generate_token(64)
    browser = secrets.token_urlsafe(32)
    moment = sessions.now()
    db.execute(delete(OidcPending).where(OidcPending.created_at < moment - PENDING))
    db.add(OidcPending(state_hash=digest(state), browser_hash=digest(browser), nonce=nonce,
                       code_verifier=verifier, created_at=moment))
    url, _state = _client(portal).create_authorization_url(
        document["authorization_endpoint"], state=state, nonce=nonce, code_verifier=verifier)
    return url, browser


def take_pending(db: Session, state: str, browser: str) -> OidcPending:
    """The sign-in this state belongs to, deleted (single use), or ``oidc_state``."""
    row = db.scalar(select(OidcPending).where(OidcPending.state_hash == digest(state)))
    if row is None:
        raise Refused("oidc_state")
    db.delete(row)
    if (not secrets.compare_digest(row.browser_hash, digest(browser))
            or sessions.aware(row.created_at) < sessions.now() - PENDING):
        raise Refused("oidc_state")
    return row


def finish(portal: PortalTable, pending: OidcPending, code: str,
           issuer_param: str | None) -> Person:
    """Exchange the code, verify the ID token and the council's rules; nothing is stored."""
    document = metadata(portal)
    if issuer_param is not None and issuer_param != portal.oidc_issuer:
        raise Refused("oidc_issuer")
    try:
        token = _client(portal).fetch_token(document["token_endpoint"], code=code,
                                            code_verifier=pending.code_verifier,
                                            grant_type="authorization_code", timeout=TIMEOUT)
    except Exception as exc:  # the provider refused the code (replayed, expired), or is down
        log.warning("the provider refused the code exchange: %s", type(exc).__name__)
        raise Refused("oidc_token") from None
    claims = _id_token(portal, document, token, pending.nonce)
    if not _has_mfa(claims.get(portal.oidc_mfa_claim), portal.oidc_mfa_values):
        raise Refused("oidc_mfa")
    groups = claims.get(portal.oidc_group_claim) or []
    if isinstance(groups, str):
        groups = [groups]
    if portal.oidc_council_group not in groups:
        raise Refused("oidc_group")
    email = str(claims.get("email") or claims.get("preferred_username") or "").strip().lower()
    subject = str(claims.get("sub") or "")
    if not subject or "@" not in email or len(email) > 254 or len(subject) > 255:
        raise Refused("oidc_token")
    return Person(subject, email)


def _id_token(portal: PortalTable, document: dict[str, Any], token: dict[str, Any],
              nonce: str) -> CodeIDToken:
    if "id_token" not in token:
        raise Refused("oidc_token")
    try:
        keys = requests.get(document["jwks_uri"], timeout=TIMEOUT)
        keys.raise_for_status()
        key_set = KeySet.import_key_set(keys.json())
        decoded = jwt.decode(token["id_token"], key=key_set, registry=JWSRegistry(
            algorithms=document.get("id_token_signing_alg_values_supported"),
            strict_check_header=False))
    except (requests.RequestException, ValueError, JoseError):
        raise Refused("oidc_token") from None
    claims = CodeIDToken(decoded.claims, decoded.header,
                         {"iss": {"essential": True, "values": [portal.oidc_issuer]},
                          "aud": {"essential": True, "values": [portal.oidc_client_id]}},
                         {"nonce": nonce, "client_id": portal.oidc_client_id,
                          "access_token": token.get("access_token")})
    try:
        claims.validate(leeway=LEEWAY)
    except ClaimError as exc:  # expired, wrong audience or nonce, ... or a wrong issuer
        raise Refused("oidc_issuer" if exc.claim == "iss" else "oidc_token") from None
    except (JoseError, ValueError):
        raise Refused("oidc_token") from None
    return claims


def _has_mfa(value: Any, accepted: tuple[str, ...]) -> bool:
    if isinstance(value, str):
        return value in accepted
    return isinstance(value, list) and any(v in accepted for v in value)
