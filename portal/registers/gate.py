"""The register's say at the moment of download: may this user take this school's file now?

The portal's one access layer calls ``refusal`` after it has checked who the user is and that
the school is theirs; this adds what the governance registers require. A refusal carries a
short code for the ledger and a plain sentence for the page, naming nobody but the school.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from portal.registers import rules, store
from portal.registers.record import Versions

NO_PROTOCOL = "no_current_protocol"
SUSPENDED = "dsl_not_confirmed"


@dataclass(frozen=True)
class Refusal:
    code: str  # for the ledger's ``refused`` entry
    message: str  # for the page the user sees


@dataclass(frozen=True)
class Policy:
    """What the council configured: current versions, the confirmation window, who to ring."""

    versions: Versions
    confirmation_days: int
    contact: str


def today() -> date:
    """Dates in the register are the council's (Europe/London), not the server's."""
    return datetime.now(ZoneInfo("Europe/London")).date()


def refusal(session: Session, user_id: int, urn: int, today: date,
            policy: Policy) -> Refusal | None:
    """None when the registers allow the download; read fresh on every request, so a change to
    the register or a lapsed confirmation takes effect at the next click, not the next sign-in.
    """
    if not rules.protocol_current(store.load(session, urn), policy.versions):
        return Refusal(NO_PROTOCOL, (
            "Your school has not signed the current access protocol for the safeguarding "
            f"databook, so the council cannot share it yet. Please contact {policy.contact}."))
    requested, confirmed = store.confirmation_dates(session, user_id, urn)
    if rules.is_suspended(requested, confirmed, today, policy.confirmation_days):
        return Refusal(SUSPENDED, (
            "Your school has not yet confirmed this term that you are still its designated "
            "safeguarding lead, so your access is paused. Ask your headteacher to confirm you "
            f"to the council, or contact {policy.contact}."))
    return None
