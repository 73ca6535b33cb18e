"""Passkeys (WebAuthn) through py_webauthn: the default second factor, because it needs no
phone and no code, and resists phishing (the browser binds it to this site's origin).

The server keeps only the credential's public key and sign count; the challenge lives in
the server-side session row and is single use.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from typing import Any

from webauthn import (
    generate_authentication_options,
    generate_registration_options,
    options_to_json,
    verify_authentication_response,
    verify_registration_response,
)
from webauthn.helpers import parse_authentication_credential_json
from webauthn.helpers.exceptions import WebAuthnException
from webauthn.helpers.structs import (
    AuthenticatorSelectionCriteria,
    PublicKeyCredentialDescriptor,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

RP_NAME = "Safeguarding Databook"
MAX_RESPONSE = 16_384  # a passkey response is well under 4 KB; bound what we parse


class PasskeyRejected(ValueError):
    """The browser's response does not prove the passkey (the message is safe to show)."""


@dataclass(frozen=True)
class NewPasskey:
    credential_id: bytes
    public_key: bytes
    sign_count: int


def new_challenge() -> bytes:
    return secrets.token_bytes(32)


def registration_options(*, rp_id: str, user_id: int, email: str, name: str, challenge: bytes,
                         existing: list[bytes]) -> str:
    options = generate_registration_options(
        rp_id=rp_id, rp_name=RP_NAME, user_name=email, user_display_name=name,
        user_id=user_id.to_bytes(8, "big"), challenge=challenge,
        authenticator_selection=AuthenticatorSelectionCriteria(
            resident_key=ResidentKeyRequirement.PREFERRED,
            user_verification=UserVerificationRequirement.REQUIRED),
        exclude_credentials=[PublicKeyCredentialDescriptor(id=c) for c in existing])
    return options_to_json(options)


def verify_registration(body: str, *, challenge: bytes, rp_id: str, origin: str) -> NewPasskey:
    if len(body) > MAX_RESPONSE:
        raise PasskeyRejected("The passkey response is too large.")
    try:
        verified = verify_registration_response(
            credential=body, expected_challenge=challenge, expected_rp_id=rp_id,
            expected_origin=origin, require_user_verification=True)
    except (WebAuthnException, ValueError, KeyError, TypeError):
        raise PasskeyRejected("The passkey could not be registered.") from None
    return NewPasskey(verified.credential_id, verified.credential_public_key,
                      verified.sign_count)


def authentication_options(*, rp_id: str, challenge: bytes, allowed: list[bytes]) -> str:
    options = generate_authentication_options(
        rp_id=rp_id, challenge=challenge,
        allow_credentials=[PublicKeyCredentialDescriptor(id=c) for c in allowed],
        user_verification=UserVerificationRequirement.REQUIRED)
    return options_to_json(options)


def credential_id_of(body: str) -> bytes:
    """The credential id a browser's assertion claims, to look up its public key."""
    if len(body) > MAX_RESPONSE:
        raise PasskeyRejected("The passkey response is too large.")
    try:
        return parse_authentication_credential_json(body).raw_id
    except (WebAuthnException, ValueError, KeyError, TypeError):
        raise PasskeyRejected("The passkey response is not valid.") from None


def verify_authentication(body: str, *, challenge: bytes, rp_id: str, origin: str,
                          public_key: bytes, sign_count: int) -> int:
    """Checks the assertion; returns the new sign count (py_webauthn refuses one that does not
    increase, a sign of a cloned authenticator)."""
    try:
        verified = verify_authentication_response(
            credential=body, expected_challenge=challenge, expected_rp_id=rp_id,
            expected_origin=origin, credential_public_key=public_key,
            credential_current_sign_count=sign_count, require_user_verification=True)
    except (WebAuthnException, ValueError, KeyError, TypeError):
        raise PasskeyRejected("The passkey did not verify.") from None
    return int(verified.new_sign_count)


def parse_json(body: bytes) -> dict[str, Any]:
    try:
        value = json.loads(body)
    except ValueError:
        raise PasskeyRejected("The passkey response is not valid.") from None
    if not isinstance(value, dict):
        raise PasskeyRejected("The passkey response is not valid.")
    return value
