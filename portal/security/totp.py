"""TOTP (RFC 6238) through pyotp, with the replay rule pyotp leaves to the application: a
code is accepted at most once per time step, so a code seen over a shoulder or replayed from
a proxy log within its 30 seconds is refused."""

from __future__ import annotations

import time

import pyotp

STEP = 30
#: One step either side: a phone clock a little off still works, and the window stays 90 s.
WINDOW = 1
ISSUER = "Safeguarding Databook"


def new_secret() -> str:
    return pyotp.random_base32(32)  # 160 bits, as RFC 4226 recommends


def uri(secret: str, email: str) -> str:
    return pyotp.TOTP(secret).provisioning_uri(name=email, issuer_name=ISSUER)


def matching_step(secret: str, code: str, last_step: int, now: float | None = None) -> int | None:
    """The time step ``code`` belongs to, if it is valid, within the window and newer than
    ``last_step`` (the last step accepted for this credential); else None."""
    code = code.strip().replace(" ", "")
    if len(code) != 6 or not code.isdigit():
        return None
    at = time.time() if now is None else now
    totp = pyotp.TOTP(secret)
    current = int(at // STEP)
    for step in range(current - WINDOW, current + WINDOW + 1):
        if step > last_step and pyotp.utils.strings_equal(totp.at(step * STEP), code):
            return step
    return None
