"""The benchmark's DSLs, shared by the set-up (which enrols them) and the locust file (which
signs them in): user ``i`` holds school ``URN0 + i``, and both sides derive the same TOTP
secret from ``i``, so no secret file has to be handed from one process to the other."""

from __future__ import annotations

import base64
import hashlib

URN0 = 200000
PASSWORD = "bench databook portal 0830"  # a synthetic account's password
SEED = b"databook portal benchmark"


def email_for(i: int) -> str:
    return f"bench.lead{i:04d}@school{i:04d}.example"


def urn_for(i: int) -> int:
    return URN0 + i


def secret_for(i: int) -> str:
    """A 160-bit base32 TOTP secret, reproducible from the user number."""
    return base64.b32encode(hashlib.sha256(SEED + str(i).encode()).digest()[:20]).decode()
