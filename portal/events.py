"""The one door from the portal to the ledger: every event the portal produces goes through
``record`` here, so the entry kinds and fields it uses are visible in one place.

``reason_text`` (free text a person typed) is handed to the ledger, which keeps it apart from
the signed entry and stores only a commitment in it. Nothing here ever carries a child's
details: the portal does not hold any.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy.orm import Session

from databook.ledger import record as ledger_record
from databook.ledger.entries import FieldValue
from portal.security.throttle import THROTTLED, Throttle

MAX_AGENT = 200


@dataclass(frozen=True)
class Origin:
    """Who and where an event came from: the request's client address and browser."""

    client: str | None = None
    user_agent: str | None = None
    actor_id: int | None = None
    actor_email: str | None = None
    #: The portal's per-address throttle of failures; None: record everything.
    throttle: Throttle | None = field(default=None, compare=False, repr=False)

    def fields(self) -> dict[str, FieldValue]:
        """``user_agent`` is already a family (``portal.server_values``) when it came from a
        request; a longer string is cut, never signed whole."""
        values: dict[str, FieldValue] = {
            "client": self.client, "user_agent": (self.user_agent or "")[:MAX_AGENT] or None,
            "actor_id": self.actor_id, "actor_email": self.actor_email}
        return {k: v for k, v in values.items() if v is not None}

    def as_user(self, user_id: int, email: str) -> Origin:
        return Origin(self.client, self.user_agent, user_id, email, self.throttle)


COMMAND_LINE = Origin(client="command-line")


def record(db: Session, kind: str, origin: Origin, **fields: FieldValue) -> int:
    """Append one entry in the caller's transaction; returns its index (-1: a failure over
    its address's limit, not recorded; see ``portal.security.throttle``)."""
    if kind in THROTTLED and origin.throttle is not None:
        throttle = origin.throttle
        verdict, limit = throttle.admit(origin.client or "(no address)"), throttle.limit
        if verdict == "record" and origin.actor_id is None:  # every address together
            verdict, limit = throttle.admit_anonymous(), throttle.anonymous_limit
        if verdict == "drop":
            return -1
        if verdict == "throttle":
            where = {"client": origin.client} if origin.client and limit == throttle.limit \
                else {}
            throttled: int = ledger_record(db, "throttled", what=kind, limit=limit,
                                           window_s=int(throttle.window_s), **where)
            return throttled
    values = origin.fields() | {k: v for k, v in fields.items() if v is not None}
    index: int = ledger_record(db, kind, **values)
    return index
