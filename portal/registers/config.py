"""Where the registers meet the rest of the portal: settings, the portal database, users.

Kept in one small module so the rules and reports never reach into settings or the account
tables themselves.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from databook.portal_table import PortalTable
from databook.settings import HostSettings
from portal.models import User, UserSchool
from portal.registers.gate import Policy
from portal.registers.record import Versions


def governance(settings: HostSettings) -> Versions:
    """The current protocol and data-sharing-agreement versions."""
    return versions(settings.portal)


def versions(portal: PortalTable) -> Versions:
    return Versions(protocol=portal.protocol_version, agreement=portal.sharing_agreement_version)


def confirmation_days(settings: HostSettings) -> int:
    """Days a school has to confirm its DSLs after the term's request, before suspension."""
    return settings.portal.dsl_confirmation_days


def policy(settings: HostSettings) -> Policy:
    """Everything the download gate needs from the settings."""
    return policy_for(settings.portal)


def policy_for(portal: PortalTable) -> Policy:
    return Policy(versions(portal), portal.dsl_confirmation_days, portal.governance_contact)


def database_url(settings: HostSettings) -> str:
    return settings.portal.database_url


#: Roles that name a school's designated safeguarding lead (a deputy DSL is one too).
DSL_ROLES = ("dsl", "deputy")
#: The school's head, as a named role: may tell the council a colleague has left (the
#: access protocol's duty), and nothing else; never downloads or looks up.
HEAD_ROLE = "head"
#: Everyone a school names in the portal.
SCHOOL_STAFF = (*DSL_ROLES, HEAD_ROLE)


def urns_with_dsl(session: Session) -> list[int]:
    """Schools with at least one named DSL who has not left (invited counts: they are named,
    and the enrolment link is on its way)."""
    found = session.scalars(select(UserSchool.urn).join(User)
                            .where(User.role.in_(DSL_ROLES), User.state != "left").distinct())
    return sorted(found)
