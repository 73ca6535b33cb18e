"""Passwords: a policy (length and a common-password list) and Argon2id hashing.

Cost: OWASP's minimum Argon2id parameters (m = 19 MiB, t = 2, p = 1). On the project's 2-core
machine one hash takes about 24 ms, so the 08:30 peak (about 300 sign-ins in two minutes,
2.5 a second) needs about 6% of one core, leaving the rest for downloads. Stronger settings
(argon2-cffi's default 64 MiB, t = 3, p = 4: about 0.13 to 0.46 s here) would make the peak
the capacity limit for no gain against an online attacker, whom the lockout stops anyway.
Hashes run on a few threads of their own (``Hashing``): their number bounds concurrent hashes
per worker, which bounds memory (``hash_concurrency`` x 19 MiB) and makes a burst queue instead
of thrashing, and they run at a lower CPU priority than the request threads, so a hash never
keeps a request that is already signed in (or the ledger writer holding the write lock) off a
core: argon2 releases the GIL, so only the kernel's scheduler stands between them.
"""

from __future__ import annotations

import os
import re
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache
from pathlib import Path

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
#: How much less CPU priority a hashing thread has than the request threads (``nice``).
#: Under contention a nice-10 thread gets about a tenth of a core's share against each
#: nice-0 one; an unprivileged process may raise its threads' nice but never lower it again,
#: which is why hashing keeps threads of its own.
HASH_NICE = 10


class PasswordRejected(ValueError):
    """The chosen password breaks the policy; the message says which rule."""


@lru_cache(maxsize=1)
def common_passwords() -> frozenset[str]:
    lines = COMMON.read_text("utf-8").splitlines()
    return frozenset(line.strip().lower() for line in lines
                     if line.strip() and not line.startswith("#"))


#: Look-alike characters people put in a common word ("P@ssw0rd"), read back as letters.
_LEET = str.maketrans({"@": "a", "4": "a", "0": "o", "1": "i", "!": "i", "3": "e", "$": "s",
                       "5": "s", "7": "t"})
_EDGES = re.compile(r"^[\W\d_]+|[\W\d_]+$")
_LETTERS = re.compile(r"[\W_]+")


def _words(text: str) -> list[str]:
    """A context text's words of four letters or more ("Alder Primary School")."""
    return [w for w in _LETTERS.split(text.lower()) if len(w) >= 4]


@lru_cache(maxsize=1)
def common_bases() -> frozenset[str]:
    """The list's passwords without the digits and symbols at either end ("password" from
    "Password1234"), each of four letters or more."""
    return frozenset(b for b in (_EDGES.sub("", p) for p in common_passwords()) if len(b) >= 4)


def check_policy(password: str, email: str = "", context: tuple[str, ...] = ()) -> None:
    """NCSC and OWASP ASVS 5 (V6.2): a length floor that counts real characters, no password
    from the shipped list of common and breached ones (nor one with digits or symbols stuck
    on either end, or letters swapped for look-alikes), and none built from words the account
    is known by: the email address's name part, and ``context`` (the school's and the
    council's names). One message per rule."""
    if len(password) > MAX_LENGTH:
        raise PasswordRejected(f"The password must have at most {MAX_LENGTH} characters.")
    if len(password.strip()) < MIN_LENGTH or len(set(password)) < 4:
        raise PasswordRejected(f"The password must have at least {MIN_LENGTH} characters, "
                               "not only spaces or one character repeated.")
    lowered = password.lower()
    core = _EDGES.sub("", lowered)
    common, bases = common_passwords(), common_bases()
    if {lowered, core, lowered.translate(_LEET)} & common or {
            core, core.translate(_LEET), _EDGES.sub("", lowered.translate(_LEET))} & bases:
        raise PasswordRejected("That password is on a list of common passwords (or is one "
                               "with numbers or symbols added); choose another.")
    local = email.split("@")[0].lower()
    squashed = _LETTERS.sub("", lowered.translate(_LEET))
    if (len(local) >= 4 and local in lowered) or any(
            w in squashed for w in _words(local.replace(".", " "))):
        raise PasswordRejected("The password must not contain your name or email address.")
    for text in context:
        if any(word in squashed for word in _words(text) if word not in _GENERIC):
            raise PasswordRejected("The password must not contain your school's or the "
                                   "council's name.")


#: Words in many school and council names that say nothing about this one.
_GENERIC = frozenset({"school", "primary", "academy", "council", "county", "city", "borough",
                      "church", "infant", "infants", "junior", "juniors", "high", "college",
                      "community", "federation", "trust", "nursery", "saint", "district"})


def lower_priority(nice: int = HASH_NICE) -> None:
    """Run the calling thread ``nice`` steps below the process and as a batch job (no
    wake-up preemption of others). Linux only: elsewhere ``setpriority`` on an id would
    reprioritise the whole process. Best effort: a hash at normal priority is still right."""
    if sys.platform != "linux" or nice <= 0:
        return
    tid = threading.get_native_id()
    try:
        os.setpriority(os.PRIO_PROCESS, tid, min(19, os.getpriority(os.PRIO_PROCESS, tid) + nice))
        os.sched_setscheduler(0, os.SCHED_BATCH, os.sched_param(0))
    except OSError:
        pass


class Hashing:
    """Argon2id on ``concurrency`` threads of its own, at a lower CPU priority.

    Callers (request threads) wait for the result, so a hash costs them wall time, not CPU
    that others are waiting for."""

    def __init__(self, concurrency: int, nice: int = HASH_NICE) -> None:
        self._pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="argon2",
                                        initializer=lower_priority, initargs=(nice,))

    def verify_sync(self, stored: str | None, password: str) -> bool:
        return self._pool.submit(_verify, stored, password[:MAX_LENGTH]).result()

    def hash_sync(self, password: str) -> str:
        return self._pool.submit(HASHER.hash, password).result()


def _verify(stored: str | None, password: str) -> bool:
    try:
        return HASHER.verify(stored or _DUMMY, password) and bool(stored)
    except (VerificationError, InvalidHashError):
        return False
