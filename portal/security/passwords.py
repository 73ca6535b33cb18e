"""Passwords: a policy (length and a common-password list) and Argon2id hashing.

Cost: OWASP's minimum Argon2id parameters (m = 19 MiB, t = 2, p = 1). On the project's 2-core
machine one hash takes about 24 ms, so the 08:30 peak (about 300 sign-ins in two minutes,
2.5 a second) needs about 6% of one core, leaving the rest for downloads. Stronger settings
(argon2-cffi's default 64 MiB, t = 3, p = 4: about 0.13 to 0.46 s here) would make the peak
the capacity limit for no gain against an online attacker, whom the lockout stops anyway.
Hashes run in a worker thread (argon2 releases the GIL) so the event loop keeps serving
downloads, and a semaphore bounds concurrent hashes per worker, which bounds memory
(``hash_concurrency`` x 19 MiB) and makes a burst queue instead of thrashing.
"""

from __future__ import annotations

import threading
from functools import lru_cache
from pathlib import Path

import anyio.to_thread
from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError

MIN_LENGTH = 12
MAX_LENGTH = 256  # bounds the work an anonymous request can ask for
COMMON = Path(__file__).resolve().parents[1] / "data" / "common-passwords.txt"
HASHER = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1, hash_len=32,
                        salt_len=16, type=Type.ID)
#: A valid hash of nothing anyone knows: checked against for an unknown email, so a
#: wrong address costs the same time as a wrong password and does not reveal who has an account.
_DUMMY = HASHER.hash("not a password: the account does not exist")


class PasswordRejected(ValueError):
    """The chosen password breaks the policy; the message says which rule."""


@lru_cache(maxsize=1)
def common_passwords() -> frozenset[str]:
    lines = COMMON.read_text("utf-8").splitlines()
    return frozenset(line.strip().lower() for line in lines
                     if line.strip() and not line.startswith("#"))


def check_policy(password: str, email: str = "") -> None:
    if len(password) < MIN_LENGTH:
        raise PasswordRejected(f"The password must have at least {MIN_LENGTH} characters.")
    if len(password) > MAX_LENGTH:
        raise PasswordRejected(f"The password must have at most {MAX_LENGTH} characters.")
    lowered = password.lower()
    if lowered in common_passwords():
        raise PasswordRejected("That password is on a list of common passwords; choose another.")
    local = email.split("@")[0].lower()
    if len(local) >= 4 and local in lowered:
        raise PasswordRejected("The password must not contain your email address.")


class Hashing:
    """Argon2id behind a semaphore, off the event loop."""

    def __init__(self, concurrency: int) -> None:
        self._limit = anyio.CapacityLimiter(concurrency)
        self._sync_limit = threading.BoundedSemaphore(concurrency)

    async def hash(self, password: str) -> str:
        return await anyio.to_thread.run_sync(HASHER.hash, password, limiter=self._limit)

    async def verify(self, stored: str | None, password: str) -> bool:
        return await anyio.to_thread.run_sync(self.verify_sync, stored, password,
                                              limiter=self._limit)

    def verify_sync(self, stored: str | None, password: str) -> bool:
        with self._sync_limit:
            try:
                return HASHER.verify(stored or _DUMMY, password[:MAX_LENGTH]) and bool(stored)
            except (VerificationError, InvalidHashError):
                return False

    def hash_sync(self, password: str) -> str:
        with self._sync_limit:
            return HASHER.hash(password)
