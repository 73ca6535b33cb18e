"""User management for council officers: add a named DSL (the enrolment link is shown once),
a leaver (at once, with the note to rotate the school's password), a reset.

The work is ``portal.accounts``, the functions ``databook users`` runs, in one transaction
with its ledger entry; a refused request rolls back and changes nothing. These pages manage
school users (``dsl``, ``deputy``) only: council accounts stay on the command line on the
council's own host, so a stolen council session cannot make, reset or remove an officer.

The portal host holds no keystore, so it cannot rotate a school's workbook password: the
leaver page tells the officer to run ``databook keys rotate --school URN`` on the nightly
host, and records that it was asked for (``council_action`` ``password_rotation_requested``).
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlencode

from fastapi import Form, Query, Request
from fastapi.responses import Response
from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session, selectinload

from portal import accounts
from portal.accounts import AccountError
from portal.context import ctx
from portal.events import record
from portal.models import User, UserSchool
from portal.registers.config import SCHOOL_STAFF
from portal.registers.partners import Partner, UserPartner
from portal.routers.council_common import (
    MAX_FIELD,
    bad_input,
    council_router,
    officer,
    optional_urn,
    page,
    parse_urn,
)
from portal.routers.council_forms import FieldError, field_errors, keeps_form, typed

router = council_router()
#: Generous limits, so an oversized field gets our own clear message rather than a bare 400.
Text = Annotated[str, Form(max_length=10_000)]
COUNCIL_ONLY = ("Council accounts are managed with `databook users` on the council's own "
                "host, not from these pages.")


#: Users shown on one page of the users list (a county has thousands).
PER_PAGE = 50
ROLES = {"": "Every role", "dsl": "DSL", "deputy": "Deputy DSL", "partner": "Partner user",
         "council": "Council officer"}


def _listing(db: Session, urn: int | None, q: str, role: str, number: int
             ) -> tuple[list[dict[str, str]], int]:
    """One page of users matching the filters (in SQL: a county's thousands are never all
    read), and how many match in all. A partner user is shown with their partner."""
    query = select(User)
    if urn is not None:
        query = query.where(User.id.in_(select(UserSchool.user_id).where(UserSchool.urn == urn)))
    if q:
        needle = q.lower()
        query = query.where(or_(func.lower(User.email).contains(needle, autoescape=True),
                                func.lower(User.name).contains(needle, autoescape=True)))
    if role:
        query = query.where(User.role == role)
    total = int(db.scalar(select(func.count()).select_from(query.subquery())) or 0)
    users = list(db.scalars(query.options(selectinload(User.schools)).order_by(User.email)
                            .offset((number - 1) * PER_PAGE).limit(PER_PAGE)))
    partners: dict[int, list[str]] = {}
    found = select(UserPartner.user_id, Partner.name, Partner.partner_id).join(
        Partner, Partner.partner_id == UserPartner.partner_id).where(
        UserPartner.user_id.in_([u.id for u in users]))
    for user_id, name, partner_id in db.execute(found):
        partners.setdefault(int(user_id), []).append(f"{name} ({partner_id})")
    rows = []
    for u in users:
        urns = " ".join(str(s.urn) for s in u.schools)
        where = ("; ".join(partners.get(u.id, [])) or "no partner" if u.role == "partner"
                 else "every school's reports" if u.role == "council" else urns or "none")
        rows.append({"email": u.email, "name": u.name, "role": u.role, "state": u.state,
                     "schools": where})
    return rows, total


def _page(request: Request, school: str = "", errors: dict[str, str] | None = None,
          typed: dict[str, str] | None = None, q: str = "", role: str = "",
          number: str = "1") -> Response:
    """The users page; after bad input, the same page with the error and what was typed."""
    urn = None if errors and "filter-school" in errors else optional_urn(school, "filter-school")
    q = " ".join(q.split())[:254]
    role = role if role in ROLES else ""
    at = int(number) if number.isdigit() and 0 < int(number) < 100_000 else 1
    with ctx(request).transaction() as db:
        rows, total = _listing(db, urn, q, role, at)
    pages = max(1, -(-total // PER_PAGE))
    query = {k: v for k, v in (("school", school), ("q", q), ("role", role)) if v}
    return page(request, "users.html", {
        "rows": rows, "school": school, "roles": SCHOOL_STAFF, "errors": errors or {},
        "typed": typed or {}, "q": q, "role": role, "role_names": ROLES, "total": total,
        "number": at, "pages": pages,
        "previous": urlencode({**query, "page": at - 1}) if at > 1 else "",
        "next": urlencode({**query, "page": at + 1}) if at < pages else ""})


@router.get("/users")
@keeps_form(lambda request, errors, values: _page(request, values["school"], errors,
                                                  q=values["q"], role=values["role"]))
def users_page(request: Request, school: Annotated[str, Query(max_length=1000)] = "",
               q: Annotated[str, Query(max_length=1000)] = "",
               role: Annotated[str, Query(max_length=20)] = "",
               page: Annotated[str, Query(max_length=10)] = "1") -> Response:
    """Every user, searched by email or name, filtered by school and role, a page at a time."""
    return _page(request, school, q=q, role=role, number=page)


def _account_field(prefix: str, exc: AccountError) -> str:
    text = str(exc)
    return (f"{prefix}-name" if "name must" in text else f"{prefix}-reason" if "reason" in text
            else f"{prefix}-school" if "URN" in text or "school" in text else f"{prefix}-email")


@router.post("/users/add")
@keeps_form(lambda request, errors, values: _page(request, "", errors, typed("add", values)))
def add(request: Request, school: Text = "", name: Text = "", email: Text = "",
        role: Annotated[str, Form(max_length=20)] = "dsl") -> Response:
    errors: dict[str, str] = {}
    urn = 0
    try:
        urn = parse_urn(school, "add-school")
    except FieldError as exc:
        errors.update(exc.errors)
    if not " ".join(name.split()):
        errors["add-name"] = "Enter the person's name."
    if not email.strip():
        errors["add-email"] = "Enter the person's own work email address."
    if role not in SCHOOL_STAFF:
        errors["add-role"] = "The role must be DSL or deputy DSL (or the school's head)."
    problem = field_errors(errors)  # every blank field at once, in the form's order
    if problem is not None:
        raise problem
    context = ctx(request)
    _viewer, who = officer(request)
    try:
        with context.transaction() as db:
            user, link = accounts.add_user(db, context.portal, urn=urn, name=name,
                                           email=email, role=role, origin=who)
            added = {"email": user.email, "urn": urn,
                     "schools": " ".join(str(s.urn) for s in user.schools)}
    except AccountError as exc:
        raise bad_input(f"Nothing was changed: {exc}.", _account_field("add", exc)) from None
    return page(request, "link.html", {"what": "added", "user": added, "link": link})


def _school_user(request: Request, email: str, field: str) -> tuple[int, list[int]]:
    """The id and schools of a school user (not a council officer), or a 400."""
    if not email.strip():
        raise bad_input("Enter the person's email address.", field)
    with ctx(request).transaction() as db:
        try:
            user = accounts.find_user(db, email)
        except AccountError as exc:
            raise bad_input(f"Nothing was changed: {exc}.", field) from None
        if user.role not in SCHOOL_STAFF:
            raise bad_input(COUNCIL_ONLY, field)
        return user.id, [s.urn for s in user.schools]


@router.post("/users/leave")
@keeps_form(lambda request, errors, values: _page(request, "", errors, typed("leave", values)))
def leave(request: Request, email: Text = "", reason: Text = "",
          rotate: Annotated[str, Form(max_length=10)] = "",
          confirm: Annotated[str, Form(max_length=10)] = "") -> Response:
    """A leaver, in two steps: the form (checked, every blank field at once), then a page
    that asks "are you sure" with a warning button; only that second POST ends the access."""
    errors: dict[str, str] = {}
    if not email.strip():
        errors["leave-email"] = "Enter the person's email address."
    if len(" ".join(reason.split())) > MAX_FIELD:
        errors["leave-reason"] = f"Keep the reason to {MAX_FIELD} characters."
    elif not reason.strip():
        errors["leave-reason"] = ("Say why their access ends, such as \"left the school\" "
                                  "(never a child's details).")
    problem = field_errors(errors)
    if problem is not None:
        raise problem
    user_id, urns = _school_user(request, email, "leave-email")
    if confirm != "yes":
        return page(request, "leave_confirm.html", {
            "email": email.strip(), "reason": reason, "rotate": rotate == "yes", "urns": urns})
    context = ctx(request)
    _viewer, who = officer(request)
    try:
        with context.transaction() as db:
            user = accounts.leave(db, email, reason, who)
            if user.id != user_id:  # the account changed between the two reads
                raise AccountError("the account changed while this was done; try again")
            if rotate == "yes":
                for urn in urns:
                    record(db, "council_action", who, action="password_rotation_requested",
                           target=f"user {user_id}", urn=urn)
            gone = user.email
    except AccountError as exc:
        raise bad_input(f"Nothing was changed: {exc}.", _account_field("leave", exc)) from None
    return page(request, "left.html", {"email": gone, "urns": urns,
                                       "rotation": rotate == "yes"})


@router.post("/users/reset")
@keeps_form(lambda request, errors, values: _page(request, "", errors, typed("reset", values)))
def reset(request: Request, email: Text = "") -> Response:
    _school_user(request, email, "reset-email")
    context = ctx(request)
    _viewer, who = officer(request)
    try:
        with context.transaction() as db:
            link = accounts.reset(db, email, context.portal, who)
            address = accounts.find_user(db, email).email
    except AccountError as exc:
        raise bad_input(f"Nothing was changed: {exc}.", "reset-email") from None
    return page(request, "link.html", {"what": "reset", "user": {"email": address},
                                       "link": link})
