"""Where the registers meet the rest of the portal: settings, the portal database, users.

Kept in one small module so the rules and reports never reach into settings or the account
tables themselves.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.registers.gate import Policy
from portal.registers.record import Versions

DEFAULT_CONFIRMATION_DAYS = 21
DEFAULT_CONTACT = "the council's information governance team"


def _portal(settings: Any) -> Any:
    return getattr(settings, "portal", None)


def governance(settings: Any) -> Versions:
    """The current protocol and data-sharing-agreement versions."""
    portal = _portal(settings)
    return Versions(protocol=getattr(portal, "protocol_version", Versions.protocol),
                    agreement=getattr(portal, "sharing_agreement_version", Versions.agreement))


def confirmation_days(settings: Any) -> int:
    """Days a school has to confirm its DSLs after the term's request, before suspension."""
    return int(getattr(_portal(settings), "dsl_confirmation_days", DEFAULT_CONFIRMATION_DAYS))


def policy(settings: Any) -> Policy:
    """Everything the download gate needs from the settings (``flows.settings.Settings``)."""
    return policy_for(_portal(settings))


def policy_for(portal: Any) -> Policy:
    """The same, from the portal's own settings (``portal.config.PortalSettings``)."""
    return Policy(Versions(protocol=getattr(portal, "protocol_version", Versions.protocol),
                           agreement=getattr(portal, "sharing_agreement_version",
                                             Versions.agreement)),
                  int(getattr(portal, "dsl_confirmation_days", DEFAULT_CONFIRMATION_DAYS)),
                  str(getattr(portal, "governance_contact", None) or DEFAULT_CONTACT))


def database_url(settings: Any) -> str:
    url = getattr(_portal(settings), "database_url", None)
    return str(url) if url else f"sqlite:///{settings.home / 'portal' / 'portal.sqlite'}"


#: Roles that name a school's designated safeguarding lead (a deputy DSL is one too).
DSL_ROLES = ("dsl", "deputy")


def urns_with_dsl(session: Session) -> list[int]:
    """Schools with at least one named DSL who has not left (invited counts: they are named,
    and the enrolment link is on its way)."""
    from portal.models import User, UserSchool

    found = session.scalars(select(UserSchool.urn).join(User)
                            .where(User.role.in_(DSL_ROLES), User.state != "left").distinct())
    return sorted(found)
