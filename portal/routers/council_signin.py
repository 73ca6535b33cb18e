"""Council officers sign in through the council's OpenID Connect provider (``portal.oidc``).

``/signin/council`` sends the browser to the provider with a fresh state, nonce and PKCE
verifier (kept server-side, bound to this browser by a cookie); ``/signin/council/callback``
checks everything, and only then finds or makes the officer's account and starts a full
session: the provider's MFA stands in for the portal's second factor. Every refusal shows one
clear message and is a ``signin_failed`` entry with ``method = oidc``.

The callback is a top-level navigation from the provider's site, so the portal's session
cookie (SameSite=Strict) would not travel with a redirect from it; the callback therefore
answers with a page of ours that continues to ``/council`` (then a same-site navigation).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.context import ctx, origin
from portal.events import Origin, record
from portal.models import User
from portal.oidc import client
from portal.oidc.models import CouncilIdentity
from portal.pages import render, set_cookie
from portal.security import sessions

router = APIRouter()
Param = Annotated[str, Query(max_length=4096)]


def _refuse(request: Request, refused: client.Refused, who: Origin | None = None) -> Response:
    with ctx(request).transaction() as db:
        record(db, "signin_failed", who or origin(request), reason=refused.reason,
               method="oidc")
    status = 502 if refused.reason == "oidc_provider" else 403
    response = render(request, "error.html", {"message": str(refused)}, status)
    response.delete_cookie(client.COOKIE, path="/signin/council")
    return response


@router.get("/signin/council")
def start(request: Request) -> Response:
    context = ctx(request)
    portal = context.portal
    if not portal.oidc_issuer:
        return render(request, "error.html", {"message": "There is no such page."}, 404)
    try:
        with context.transaction() as db:
            url, browser = client.start(db, portal)
    except client.Refused as refused:
        return _refuse(request, refused)
    response = RedirectResponse(url, status_code=303)
    response.set_cookie(client.COOKIE, browser, max_age=int(client.PENDING.total_seconds()),
                        httponly=True, secure=portal.cookie_secure, samesite="lax",
                        path="/signin/council")
    return response


@router.get("/signin/council/callback")
def callback(request: Request, state: Param = "", code: Param = "", error: Param = "",
             iss: Annotated[str | None, Query(max_length=1024)] = None) -> Response:
    context = ctx(request)
    portal = context.portal
    if not portal.oidc_issuer:
        return render(request, "error.html", {"message": "There is no such page."}, 404)
    try:
        with context.transaction() as db:  # deleted, and committed, whatever follows
            pending = client.take_pending(db, state, request.cookies.get(client.COOKIE, ""))
        if error or not code:
            raise client.Refused("oidc_provider")
        person = client.finish(portal, pending, code, iss)
    except client.Refused as refused:
        return _refuse(request, refused)
    try:
        with context.transaction() as db:
            user = _account(db, person, portal.oidc_issuer, origin(request))
            who = origin(request).as_user(user.id, user.email)
            token, _row = sessions.start(db, user.id, "full")
            record(db, "signin_ok", who, method="oidc")
    except client.Refused as refused:
        return _refuse(request, refused)
    response = render(request, "council_signed_in.html")
    set_cookie(response, portal, portal.cookie_name, token)
    response.delete_cookie(client.COOKIE, path="/signin/council")
    return response


def _account(db: Session, person: client.Person, issuer: str, where: Origin) -> User:
    """The officer's account: found by the provider's subject, or (the first time) made, or
    linked to the council account already named with that address. A school's or partner's
    account never becomes an officer's; a leaver here stays out."""
    moment = sessions.now()
    identity = db.scalar(select(CouncilIdentity).where(CouncilIdentity.issuer == issuer,
                                                       CouncilIdentity.subject == person.subject))
    user = db.get(User, identity.user_id) if identity is not None else None
    if user is None:
        user = db.scalar(select(User).where(User.email == person.email))
        if user is None:
            user = User(email=person.email, name=person.email, role="council", state="active",
                        created_at=moment)
            db.add(user)
            db.flush()
            record(db, "user_added", where, target_id=user.id, target_email=user.email,
                   role="council")
        elif user.role != "council":
            raise client.Refused("oidc_group")
        identity = CouncilIdentity(user_id=user.id, issuer=issuer, subject=person.subject,
                                   created_at=moment, last_verified_at=moment)
        db.add(identity)
    if user.state in ("left", "suspended"):
        raise client.Refused("disabled")
    if user.state == "invited":
        user.state = "active"
    assert identity is not None
    identity.last_verified_at = moment
    db.flush()
    return user
