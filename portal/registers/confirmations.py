"""Each term's "is this person still your DSL?" round, over the portal's named users.

Schools must tell the council when a DSL leaves and often forget; asking every
term, and pausing anyone not confirmed in time, bounds how long a forgotten leaver keeps
access. The rule itself is ``rules.confirmation``; this module finds the users and keeps the
dates.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.models import User, UserSchool
from portal.registers import rules, store
from portal.registers.config import DSL_ROLES
from portal.registers.models import DslConfirmation


@dataclass(frozen=True)
class Standing:
    """One named DSL at one school, and where they stand in the current round."""

    user_id: int
    email: str
    urn: int
    requested_on: date | None
    confirmed_on: date | None
    confirmed_by: str
    state: rules.Confirmation


def _named(session: Session, urn: int | None) -> list[tuple[int, str, int]]:
    """(user id, email, URN) for every DSL who has not left, at one school or all."""
    query = (select(User.id, User.email, UserSchool.urn).join(UserSchool)
             .where(User.role.in_(DSL_ROLES), User.state != "left")
             .order_by(UserSchool.urn, User.email))
    if urn is not None:
        query = query.where(UserSchool.urn == urn)
    return [(int(i), str(e), int(u)) for i, e, u in session.execute(query)]


def request_round(session: Session, today: date, urn: int | None = None) -> int:
    """Start this term's round (for one school or all); returns how many users were asked
    about. Everyone must be confirmed again, including those confirmed last term."""
    named = _named(session, urn)
    for user_id, _email, school in named:
        store.request_confirmation(session, user_id, school, today)
    return len(named)


def standings(session: Session, today: date, window_days: int,
              urn: int | None = None) -> list[Standing]:
    found = []
    for user_id, email, school in _named(session, urn):
        row = session.get(DslConfirmation, (user_id, school))
        requested = row.requested_on if row else None
        confirmed = row.confirmed_on if row else None
        found.append(Standing(user_id, email, school, requested, confirmed,
                              row.confirmed_by if row else "",
                              rules.confirmation(requested, confirmed, today, window_days)))
    return found


def newly_suspended(session: Session, today: date, window_days: int) -> list[Standing]:
    """Users whose window has just lapsed, marked so that each lapse is recorded once; the
    caller writes a ledger entry for each in the same transaction."""
    lapsed = []
    for one in standings(session, today, window_days):
        if one.state != "suspended":
            continue
        row = session.get(DslConfirmation, (one.user_id, one.urn))
        if row is not None and row.suspended_on is None:
            row.suspended_on = today
            lapsed.append(one)
    session.flush()
    return lapsed


def user_id_for(session: Session, email: str, urn: int) -> int | None:
    """A named DSL's id at that school, or None (unknown, left, or not at that school)."""
    found = [i for i, e, _u in _named(session, urn) if e.lower() == email.strip().lower()]
    return found[0] if found else None
