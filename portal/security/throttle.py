"""How much one client address may add to the ledger by failing.

Failed sign-ins and enrolment links are recorded, and anyone on the internet can fail: without
a limit a stranger could append to the permanent ledger as fast as they can post. Each address
may have ``limit`` such entries in ``window_s``; the next one is recorded as one ``throttled``
entry (the address, the kind, the limit), and the rest in that window are not recorded at all.
The page the visitor sees does not change, so the throttle tells nobody anything about an
account. Counts are per worker process (a bound, not an exact count), kept in memory: they
are about the ledger's size, not about who may sign in (``portal.authn`` is).
"""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass, field

#: The kinds an anonymous visitor can cause.
THROTTLED = frozenset({"signin_failed", "enrolment_failed", "lockout"})


#: The key under which every ANONYMOUS failure is also counted, whatever its address.
EVERYONE = "\0anonymous"


@dataclass
class Throttle:
    """Per address, ``limit`` in ``window_s``; and (an attacker rotating addresses) all
    anonymous failures together, ``anonymous_limit`` in the same window: past it, one
    ``throttled`` entry stands for the rest until the window moves on."""

    limit: int = 20
    window_s: float = 15 * 60
    anonymous_limit: int = 300
    _seen: dict[str, deque[float]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def admit(self, client: str, now: float | None = None, limit: int | None = None) -> str:
        """``record`` (under the limit), ``throttle`` (the first one over: record one
        ``throttled`` entry instead) or ``drop`` (over, already recorded)."""
        moment = time.monotonic() if now is None else now
        cap = self.limit if limit is None else limit
        with self._lock:
            seen = self._seen.setdefault(client, deque())
            while seen and seen[0] <= moment - self.window_s:
                seen.popleft()
            if len(seen) > cap:  # throttled already (at most cap + 1 kept)
                return "drop"
            seen.append(moment)
            if len(self._seen) > 100_000:  # a flood of addresses: forget the quiet ones
                self._forget(moment)
            return "record" if len(seen) <= cap else "throttle"

    def admit_anonymous(self, now: float | None = None) -> str:
        return self.admit(EVERYONE, now, self.anonymous_limit)

    def _forget(self, moment: float) -> None:
        for key in [k for k, v in self._seen.items() if not v or v[-1] <= moment - self.window_s]:
            del self._seen[key]
