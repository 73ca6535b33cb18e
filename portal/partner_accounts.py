"""Named users of a multi-agency partner: the same enrolment link, second factor
and individual agreement as a school's DSL, and exactly one partner, which must be on the
register. A partner user holds no school and a school's user holds no partner, so neither set
of rules can ever let one through to the other's pages (``portal.access``).
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from databook.portal_table import PortalTable
from portal.accounts import AccountError, Link, check_named, issue_link, normal_email
from portal.events import Origin, record
from portal.models import User
from portal.registers.partners import Partner, UserPartner
from portal.security import sessions
from schemas.partners import PARTNER_ID

ROLE = "partner"


def add_partner_user(db: Session, settings: PortalTable, *, partner_id: str, name: str,
                     email: str, origin: Origin) -> tuple[User, Link | None]:
    """A new named account for one partner, with its enrolment link. An existing account is
    never given a partner: a school's DSL or an officer stays what they are, and a partner
    user has one partner."""
    if not PARTNER_ID.match(partner_id):
        raise AccountError("the partner id must be letters, digits and hyphens")
    if db.get(Partner, partner_id) is None:
        raise AccountError(f"partner {partner_id} is not on the register (databook partners "
                           "import)")
    email = normal_email(email)
    check_named(email, settings)
    name = " ".join(name.split())
    if not 1 <= len(name) <= 200:
        raise AccountError("the name must be 1 to 200 characters")
    if db.scalar(select(User).where(User.email == email)) is not None:
        raise AccountError("that address already has an account; a partner user needs an "
                           "account of their own")
    moment = sessions.now()
    user = User(email=email, name=name, role=ROLE, state="invited", created_at=moment)
    db.add(user)
    db.flush()
    db.add(UserPartner(user_id=user.id, partner_id=partner_id, added_at=moment))
    link = issue_link(db, user, settings, "enrol")
    db.flush()
    record(db, "user_added", origin, target_id=user.id, target_email=email, role=ROLE,
           partner_id=partner_id)
    return user, link
