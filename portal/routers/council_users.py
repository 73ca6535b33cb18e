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

from fastapi import Form, Query, Request
from fastapi.responses import Response

from portal import accounts
from portal.accounts import AccountError
from portal.context import ctx
from portal.events import record
from portal.registers.config import SCHOOL_STAFF
from portal.routers.council_common import (
    MAX_FIELD,
    bad_input,
    council_router,
    officer,
    optional_urn,
    page,
    parse_urn,
)
from portal.routers.council_forms import keeps_form, typed

router = council_router()
#: Generous limits, so an oversized field gets our own clear message rather than a bare 400.
Text = Annotated[str, Form(max_length=10_000)]
COUNCIL_ONLY = ("Council accounts are managed with `databook users` on the council's own "
                "host, not from these pages.")


def _page(request: Request, school: str = "", errors: dict[str, str] | None = None,
          typed: dict[str, str] | None = None) -> Response:
    """The users page; after bad input, the same page with the error and what was typed."""
    urn = None if errors and "filter-school" in errors else optional_urn(school, "filter-school")
    with ctx(request).transaction() as db:
        rows = [{"email": u.email, "name": u.name, "role": u.role, "state": u.state,
                 "schools": " ".join(str(s) for s in urns) or "none"}
                for u, urns in accounts.listing(db, urn)]
    return page(request, "users.html", {"rows": rows, "school": school, "roles": SCHOOL_STAFF,
                                        "errors": errors or {}, "typed": typed or {}})


@router.get("/users")
@keeps_form(lambda request, errors, values: _page(request, values["school"], errors))
def users_page(request: Request,
               school: Annotated[str, Query(max_length=1000)] = "") -> Response:
    return _page(request, school)


def _account_field(prefix: str, exc: AccountError) -> str:
    text = str(exc)
    return (f"{prefix}-name" if "name must" in text else f"{prefix}-reason" if "reason" in text
            else f"{prefix}-school" if "URN" in text or "school" in text else f"{prefix}-email")


@router.post("/users/add")
@keeps_form(lambda request, errors, values: _page(request, "", errors, typed("add", values)))
def add(request: Request, school: Text = "", name: Text = "", email: Text = "",
        role: Annotated[str, Form(max_length=20)] = "dsl") -> Response:
    urn = parse_urn(school, "add-school")
    if role not in SCHOOL_STAFF:
        raise bad_input("The role must be DSL or deputy DSL (or the school's head).", "add-role")
    if not " ".join(name.split()):
        raise bad_input("Enter the person's name.", "add-name")
    if not email.strip():
        raise bad_input("Enter the person's own work email address.", "add-email")
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
          rotate: Annotated[str, Form(max_length=10)] = "") -> Response:
    if len(" ".join(reason.split())) > MAX_FIELD:
        raise bad_input(f"Keep the reason to {MAX_FIELD} characters.", "leave-reason")
    if not reason.strip():
        raise bad_input("Say why their access ends, such as \"left the school\" (never a "
                        "child's details).", "leave-reason")
    user_id, urns = _school_user(request, email, "leave-email")
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
