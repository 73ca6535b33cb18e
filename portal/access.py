"""The ONE place that decides who may reach what. Every route depends on a function here.

A request is checked against an ordered list of rules; the first that objects refuses it.
Rules are plain functions of a ``Check`` (who, which school, what for), so a new rule (the
school has a current signed protocol; the school confirmed the user this term) is one
function appended to a list, applied everywhere at once, and tested on its own.

A refusal of a signed-in user is written to the ledger (``refused``) before the response goes
out. A visitor with no session is sent to the sign-in page and not recorded: anyone on the
internet could otherwise fill the ledger.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from fastapi import Request
from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.context import PortalContext, ctx, origin
from portal.events import record
from portal.models import AgreementAcceptance, User, WebSession
from portal.oidc.models import CouncilIdentity
from portal.registers.config import DSL_ROLES, SCHOOL_STAFF, policy_for
from portal.registers.gate import refusal, today
from portal.registers.partner_store import load
from portal.registers.partners import UserPartner
from portal.security import sessions
from portal.security.tokens import csrf_token
from portal.server_values import route_of
from schemas.partners import PARTNER_ID
from schemas.partners import agreement_current as dsa_current

PARTNER_ROLE = "partner"
PRE_COOKIE = "databook_pre"  # the plain-HTTP name; see PortalSettings.pre_cookie_name


class Denied(Exception):
    """A refusal: ``status`` and a message safe to show; ``what`` is the ledger's word for
    it (None: do not record); ``redirect`` sends the browser somewhere instead of a page."""

    def __init__(self, status: int, message: str, *, what: str | None = None,
                 redirect: str | None = None, urn: int | None = None,
                 partner_id: str | None = None) -> None:
        super().__init__(message)
        self.status, self.what, self.redirect, self.urn = status, what, redirect, urn
        self.partner_id = partner_id


@dataclass
class Viewer:
    """The signed-in person, as this request sees them."""

    user_id: int
    email: str
    name: str
    role: str
    state: str
    stage: str
    token: str
    schools: frozenset[int]
    agreed_versions: frozenset[str]
    csrf: str
    extra: dict[str, object] = field(default_factory=dict)
    #: The partner a ``partner`` user collects for; empty for everyone else.
    partners: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Check:
    viewer: Viewer
    context: PortalContext
    db: Session
    urn: int | None = None
    purpose: str = "page"  # page | download | lookup
    partner_id: str | None = None


Rule = Callable[[Check], Denied | None]


def provider_still_agrees(check: Check) -> Denied | None:
    """An officer who signed in through the council's OpenID provider goes back through it
    every ``oidc_recheck_seconds`` (at once, without a prompt, while the provider still
    knows them): someone the provider has disabled, or removed from the council's group, is
    refused there, so their access here ends within that interval."""
    verified = check.viewer.extra.get("provider_verified")
    if not isinstance(verified, datetime):
        return None
    recheck = timedelta(seconds=check.context.portal.oidc_recheck_seconds)
    if sessions.now() - sessions.aware(verified) >= recheck:
        return Denied(303, "Sign in again through the council's account.",
                      redirect="/signin/council")
    return None


def account_active(check: Check) -> Denied | None:
    if check.viewer.state != "active":
        return Denied(403, "This account is not active. Ask the council.", what="inactive")
    return None


def fully_signed_in(check: Check) -> Denied | None:
    if check.viewer.stage != "full":
        return Denied(303, "Finish signing in first.", redirect="/signin")
    return None


def agreement_current(check: Check) -> Denied | None:
    if check.context.portal.agreement_version not in check.viewer.agreed_versions:
        return Denied(303, "Accept the current agreement first.", redirect="/agreement")
    return None


def school_role(check: Check) -> Denied | None:
    """Defence in depth: school pages and files are for a school's DSLs and deputies only.
    A council officer holds no school (``databook users add --role council`` refuses one),
    but should a school row reach a council account (an edit in the database, an old
    import), the officer is still refused, with a 403 that is recorded, before any other
    rule can send them elsewhere."""
    if check.viewer.role not in DSL_ROLES:
        return Denied(403, "School pages are for the school's named safeguarding leads only.",
                      what="not_school_user", urn=check.urn)
    return None


def school_staff_role(check: Check) -> Denied | None:
    """Telling the council about the school's own staff (a leaver): its DSLs, deputies and
    its head (``portal.registers.config.SCHOOL_STAFF``); nobody else."""
    if check.viewer.role not in SCHOOL_STAFF:
        return Denied(403, "School pages are for the school's named safeguarding leads only.",
                      what="not_school_user", urn=check.urn)
    return None


def council_lands_on_council(check: Check) -> Denied | None:
    """A council officer's home is the council pages, not a DSL's agreement or school list."""
    if check.viewer.role == "council":
        return Denied(303, "The council pages.", redirect="/council")
    return None


def own_school(check: Check) -> Denied | None:
    """Another school's URN gets the same answer as a school that does not exist, so the
    portal never confirms which schools exist."""
    if check.urn is None or check.urn not in check.viewer.schools:
        return Denied(404, "There is no such page.", what="other_school", urn=check.urn)
    return None


def registers_allow(check: Check) -> Denied | None:
    """The school has signed the current access protocol, and has confirmed this
    user as its DSL this term (``portal.registers.gate``), read fresh at the moment of use."""
    if check.urn is None:
        return None
    found = refusal(check.db, check.viewer.user_id, check.urn, today(),
                    policy_for(check.context.portal))
    if found is None:
        return None
    return Denied(403, found.message, what=found.code, urn=check.urn)


def access_offered(check: Check) -> Denied | None:
    """The council's ``school_access`` setting (both, downloads or lookups) decides
    whether schools may download the workbook, look up one pupil, or both. What is not
    offered does not exist, as far as a school can tell."""
    offered = check.context.portal.school_access
    if check.purpose == "download" and offered == "lookups":
        return Denied(404, "There is no such page.", what="downloads_off", urn=check.urn)
    if check.purpose == "lookup" and offered == "downloads":
        return Denied(404, "There is no such page.", what="lookups_off", urn=check.urn)
    return None


def council_role(check: Check) -> Denied | None:
    """The council officer's pages are for the ``council`` role only. A school user
    is refused (and recorded) on every one of them, whatever school a URL names."""
    if check.viewer.role != "council":
        return Denied(403, "This page is for council officers only.", what="not_council")
    return None


def partner_role(check: Check) -> Denied | None:
    """Partner pages and files are for partner users only. A school's DSL or a
    council officer is refused (and recorded) whatever partner a URL names."""
    if check.viewer.role != PARTNER_ROLE:
        return Denied(403, "Partner pages are for a partner's named users only.",
                      what="not_partner_user", partner_id=_shown(check.partner_id))
    return None


def own_partner(check: Check) -> Denied | None:
    """Another partner's id gets the same answer as one that does not exist."""
    if check.partner_id is None or check.partner_id not in check.viewer.partners:
        return Denied(404, "There is no such page.", what="other_partner",
                      partner_id=_shown(check.partner_id))
    return None


def partner_agreement_allows(check: Check) -> Denied | None:
    """At the moment of download: the partner's data-sharing agreement is signed and its
    review date has not passed (``schemas.partners.agreement_current``), read fresh from the
    register. A file from before it lapsed is never served after."""
    record = None if check.partner_id is None else load(check.db, check.partner_id)
    if record is None or not dsa_current(record, today()):
        return Denied(403, "Your organisation's data-sharing agreement with the council is not "
                           "current, so the databook cannot be downloaded. Ask the council.",
                      what="partner_agreement_lapsed", partner_id=check.partner_id)
    return None


def _shown(partner_id: str | None) -> str | None:
    """A partner id from a URL, for the ledger only when it has the shape of one."""
    return partner_id if partner_id is not None and PARTNER_ID.match(partner_id) else None


#: Every page behind sign-in (the agreement page itself uses only these).
ACCOUNT_RULES: list[Rule] = [fully_signed_in, account_active, provider_still_agrees]
#: Every page about the person's own account or schools.
AGREED_RULES: list[Rule] = [*ACCOUNT_RULES, agreement_current]
#: The home page: a council officer is sent to the council pages, a DSL on as AGREED_RULES.
HOME_RULES: list[Rule] = [*ACCOUNT_RULES, council_lands_on_council, agreement_current]
#: Every page or action about one school (the role first: a council officer gets 403, not
#: the agreement page).
SCHOOL_RULES: list[Rule] = [*ACCOUNT_RULES, school_role, agreement_current, own_school]
#: The school's staff page (reporting a leaver): a DSL, deputy or the head, own school only.
STAFF_RULES: list[Rule] = [*ACCOUNT_RULES, school_staff_role, agreement_current, own_school]
#: Serving a file: checked again at that moment, on the server.
DOWNLOAD_RULES: list[Rule] = [*SCHOOL_RULES, registers_allow, access_offered]
#: The download and look-up pages (the forms), when the council offers them.
OFFER_RULES: list[Rule] = [*SCHOOL_RULES, access_offered]
#: Looking up one pupil: as a download, checked at the moment of serving.
LOOKUP_RULES: list[Rule] = [*SCHOOL_RULES, registers_allow, access_offered]
#: Every page about one partner: the role first, as for schools.
PARTNER_RULES: list[Rule] = [*ACCOUNT_RULES, partner_role, agreement_current, own_partner]
#: Serving a partner's file: the partner's agreement is checked again at that moment.
PARTNER_DOWNLOAD_RULES: list[Rule] = [*PARTNER_RULES, partner_agreement_allows]
#: The council officer's pages and exports (signed in with both factors, active, council).
COUNCIL_RULES: list[Rule] = [*ACCOUNT_RULES, council_role]


def apply(rules: list[Rule], check: Check) -> None:
    for rule in rules:
        denied = rule(check)
        if denied is not None:
            raise denied


def session_token(request: Request) -> str | None:
    return request.cookies.get(ctx(request).portal.cookie_name)


def load_viewer(request: Request, db: Session) -> Viewer | None:
    """The session's user, or None; cached on the request so the rules and the page agree.
    Writes nothing, so it runs in a read-only transaction: what the session needs written
    (expired: delete it; idle a while: touch it) is left for ``keep_up``."""
    if hasattr(request.state, "viewer"):
        cached: Viewer | None = request.state.viewer
        return cached
    context = ctx(request)
    token = session_token(request)
    viewer = None
    row, request.state.session_upkeep = sessions.peek(
        db, token, idle=timedelta(minutes=context.portal.idle_minutes),
        absolute=timedelta(hours=context.portal.absolute_hours))
    if row is not None and token is not None:
        user = db.get(User, row.user_id)
        if user is not None:
            agreed = db.scalars(select(AgreementAcceptance.version).where(
                AgreementAcceptance.user_id == user.id))
            viewer = Viewer(user.id, user.email, user.name, user.role, user.state, row.stage,
                            token, frozenset(s.urn for s in user.schools), frozenset(agreed),
                            csrf_token(context.hmac_key, token),
                            partners=_partners_of(db, user))
            if user.role == "council" and db.get(CouncilIdentity, user.id) is not None:
                viewer.extra["provider_verified"] = row.created_at
    request.state.viewer = viewer
    return viewer


def _partners_of(db: Session, user: User) -> frozenset[str]:
    """A partner user's partner (one query, for partner users only)."""
    if user.role != PARTNER_ROLE:
        return frozenset()

    return frozenset(db.scalars(select(UserPartner.partner_id)
                                .where(UserPartner.user_id == user.id)))


def keep_up(request: Request) -> None:
    """Write what ``load_viewer`` found the session needs, in a short write transaction of
    its own (at most once per 30 s per session, and once when it expires)."""
    upkeep, token = getattr(request.state, "session_upkeep", ""), session_token(request)
    if upkeep and token:
        request.state.session_upkeep = ""
        with ctx(request).transaction() as db:
            sessions.keep_up(db, token, upkeep)


def session_row(request: Request, db: Session) -> WebSession | None:
    token = session_token(request)
    if token is None:
        return None
    context = ctx(request)
    return sessions.find(db, token, idle=timedelta(minutes=context.portal.idle_minutes),
                         absolute=timedelta(hours=context.portal.absolute_hours))


def checked(request: Request, rules: list[Rule], urn: int | None = None,
            purpose: str = "page", partner_id: str | None = None) -> Viewer:
    """Every rule in one read-only transaction (pages never wait for, nor hold up, a ledger
    append), then the session's upkeep, whatever the rules decided."""
    context = ctx(request)
    try:
        with context.reading() as db:
            viewer = load_viewer(request, db)
            if viewer is None:
                raise Denied(303, "Please sign in.", redirect="/signin")
            apply(rules, Check(viewer, context, db, urn, purpose, partner_id))
    finally:
        keep_up(request)
    return viewer


def record_refusal(request: Request, denied: Denied) -> None:
    """Write the ``refused`` entry for a signed-in user's refused request."""
    viewer: Viewer | None = getattr(request.state, "viewer", None)
    if denied.what is None or viewer is None:
        return
    context = ctx(request)
    with context.transaction() as db:
        record(db, "refused", origin(request).as_user(viewer.user_id, viewer.email),
               what=denied.what, path=route_of(request), urn=denied.urn,
               status=denied.status,
               **({"partner_id": denied.partner_id} if denied.partner_id else {}))


# The dependencies routes use -------------------------------------------------------------

def signed_in(request: Request) -> Viewer:
    """Signed in with both factors, active (the agreement page)."""
    return checked(request, ACCOUNT_RULES)


def agreed(request: Request) -> Viewer:
    """Signed in and on the current agreement (the home page, the school list); a council
    officer is sent to /council instead."""
    return checked(request, HOME_RULES)


def school_viewer(urn: int, request: Request) -> Viewer:
    return checked(request, SCHOOL_RULES, urn)


def school_staff(urn: int, request: Request) -> Viewer:
    return checked(request, STAFF_RULES, urn)


def school_downloader(urn: int, request: Request) -> Viewer:
    return checked(request, DOWNLOAD_RULES, urn, "download")


def partner_viewer(partner_id: str, request: Request) -> Viewer:
    return checked(request, PARTNER_RULES, partner_id=partner_id)


def partner_downloader(partner_id: str, request: Request) -> Viewer:
    return checked(request, PARTNER_DOWNLOAD_RULES, purpose="download", partner_id=partner_id)


def school_offer_page(urn: int, request: Request, purpose: str) -> Viewer:
    """The download or look-up form: a school page, if the council offers ``purpose``."""
    return checked(request, OFFER_RULES, urn, purpose)


def school_looker(urn: int, request: Request) -> Viewer:
    return checked(request, LOOKUP_RULES, urn, "lookup")


def council_officer(request: Request) -> Viewer:
    """A council officer (``portal.routers.council_common`` puts this on every council
    route as a router dependency, so it runs before any form is read)."""
    return checked(request, COUNCIL_RULES)


