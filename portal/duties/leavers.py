"""A school tells the council an authorised user has left (the access protocol's duty, until
now a telephone call): a DSL, deputy or the school's head reports a colleague at their school,
and that account is suspended in the same transaction: its sessions deleted (the next request
is signed out), its enrolment and reset links expired, sign-in refused. Nothing else is taken
away yet, so a mistaken report costs nothing: the council then confirms it (the account leaves
for good, as ``portal.accounts.leave``) or reverses it (the account's state comes back; the
person signs in again). Each step is a ledger entry.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from portal import accounts
from portal.duties.models import LEAVER_REASONS, LeaverReport
from portal.events import Origin, record
from portal.models import EnrolmentToken, User, UserSchool
from portal.registers.config import SCHOOL_STAFF
from portal.security import sessions


class LeaverError(ValueError):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class Colleague:
    user_id: int
    name: str
    email: str
    role: str


def colleagues(db: Session, urn: int, reporter_id: int) -> list[Colleague]:
    """The school's named users who may still sign in, but the reporter: whom they may report."""
    rows = db.execute(select(User.id, User.name, User.email, User.role).join(UserSchool)
                      .where(UserSchool.urn == urn, User.role.in_(SCHOOL_STAFF),
                             User.state.in_(("invited", "active")), User.id != reporter_id)
                      .order_by(User.name))
    return [Colleague(*row) for row in rows]


def report(db: Session, who: Origin, *, reporter_id: int, reporter_role: str, urn: int,
           target: str, reason: str, last_day: str) -> LeaverReport:
    """Suspend the colleague at once and record the report (in the caller's transaction)."""
    mine = {c.user_id: c for c in colleagues(db, urn, reporter_id)}
    if not target.isdigit() or int(target) not in mine:
        raise LeaverError("target", "Choose the colleague who has left.")
    if reason not in LEAVER_REASONS:
        raise LeaverError("reason", "Choose why their access should end.")
    today = sessions.now().date()
    try:
        last = date.fromisoformat(last_day.strip())
    except ValueError:
        raise LeaverError("last_day", "Give their last working day, such as "
                                      f"{today.isoformat()}.") from None
    if not today - timedelta(days=366) <= last <= today + timedelta(days=92):
        raise LeaverError("last_day", "Give a last working day within the last year or the "
                                      "next three months.")
    user = db.get(User, int(target))
    assert user is not None
    leaver = LeaverReport(user_id=user.id, urn=urn, reported_by=reporter_id,
                          reporter_role=reporter_role, reason=reason, last_day=last,
                          reported_at=sessions.now(), previous_state=user.state,
                          state="suspended")
    suspend(db, user)
    db.add(leaver)
    db.flush()
    record(db, "leaver_reported", who, target_id=user.id, target_email=user.email, urn=urn,
           reporter_role=reporter_role, why=reason, last_day=last.isoformat())
    return leaver


def suspend(db: Session, user: User) -> None:
    """Signed out everywhere and no link works; the password and second factors are kept
    (until the council confirms) so a reversal needs nothing re-issued."""
    user.state = "suspended"
    sessions.end_all(db, user.id)
    db.execute(update(EnrolmentToken).where(EnrolmentToken.user_id == user.id,
                                            EnrolmentToken.expires_at > sessions.now())
               .values(expires_at=sessions.now()))


def decide(db: Session, who: Origin, report_id: int, decision: str,
           officer_id: int) -> LeaverReport:
    """``confirm``: the account leaves for good; ``reverse``: its state comes back."""
    leaver = db.get(LeaverReport, report_id)
    if leaver is None:
        raise LeaverError("", "There is no such leaver report.")
    if leaver.state != "suspended":
        raise LeaverError("decision", "This report has already been decided.")
    user = db.get(User, leaver.user_id)
    assert user is not None
    if decision == "confirm":
        if user.state != "left":
            accounts.leave(db, user.email, f"reported by the school as a leaver: "
                                           f"{LEAVER_REASONS[leaver.reason].lower()}", who)
        leaver.state = "confirmed"
    elif decision == "reverse":
        if user.state == "suspended":
            user.state = leaver.previous_state
        leaver.state = "reversed"
    else:
        raise LeaverError("decision", "Confirm or reverse the report.")
    leaver.decided_by, leaver.decided_at = officer_id, sessions.now()
    record(db, "leaver_decided", who, target_id=user.id, target_email=user.email,
           decision=leaver.state)
    return leaver
