"""Enrolment from the single-use link: set a password, register a passkey (the default) or an
authenticator app, then on to the agreement. A reset link sets a new password and then asks
for a second factor the person ALREADY holds: a reset never bypasses it."""

from __future__ import annotations

from typing import Annotated

import anyio.to_thread
from fastapi import APIRouter, Form, Request
from fastapi.responses import Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from portal import authn
from portal.access import Denied
from portal.accounts import has_factor
from portal.context import PortalContext, ctx, origin
from portal.events import Origin, record
from portal.models import Credential, EnrolmentToken, User, WebSession
from portal.pages import render
from portal.registers.models import SchoolRegister
from portal.routers.common import MAX_PASSWORD, go, go_json, json_error, pending
from portal.security import passkeys, sessions, totp
from portal.security.passwords import PasswordRejected, check_policy
from portal.security.tokens import digest

router = APIRouter()
GONE = "This link has expired or has already been used. Ask the council for a new one."


def _link(db: Session, token: str, where: Origin) -> tuple[EnrolmentToken, User]:
    """The link's row and user, or a recorded refusal (410: used, expired or unknown)."""
    row = db.scalar(select(EnrolmentToken).where(EnrolmentToken.token_hash == digest(token)))
    user = db.get(User, row.user_id) if row is not None else None
    reason = ("unknown" if row is None or user is None else "left" if user.state == "left"
              else "used" if row.used_at is not None
              else "expired" if sessions.aware(row.expires_at) <= sessions.now() else None)
    if reason is not None:
        who = where if user is None else where.as_user(user.id, user.email)
        record(db, "enrolment_failed", who, reason=reason)
        raise Denied(410, GONE)
    assert row is not None and user is not None
    return row, user


def _refuse_link(request: Request, token: str) -> Denied | None:
    """Checks the link in its own transaction, so a refusal is recorded and committed."""
    with ctx(request).transaction() as db:
        try:
            _link(db, token, origin(request))
        except Denied as denied:
            return denied
    return None


#: Who may add a second factor: someone enrolling from their link, or a signed-in user who
#: has just typed their password again (``/enrol/confirm``). A signed-in session alone may
#: not: whoever holds a stolen session cookie could otherwise add their own authenticator.
ADDING = ("enrolling", "adding")


@router.get("/enrol/factor")
def factor_page(request: Request) -> Response:
    with ctx(request).transaction() as db:
        row, _ = pending(request, db, ("enrolling", "adding", "full"))
        stage = row.stage
    return render(request, "reauth.html" if stage == "full" else "factor.html")


@router.post("/enrol/confirm")
def confirm_password(request: Request,
                     password: Annotated[str, Form(max_length=MAX_PASSWORD)] = "") -> Response:
    """Re-authentication before a factor is added: the password, counted by the same limits
    as a sign-in (a wrong one is a failure against the account)."""
    context, where = ctx(request), origin(request)
    with context.transaction() as db:  # short: the hash runs with no transaction open
        _, user = pending(request, db, ("full",))
        found = authn.candidate(db, user.email, context, where.client)
        email = user.email
    good = authn.verify(context, found, password)
    refused: authn.SigninRefused | None = None
    with context.transaction() as db:
        row, user = pending(request, db, ("full",))
        try:
            authn.settle_password(db, context, email, found, good, where)
            token, _ = sessions.start(db, user.id, "adding", replacing=row)
        except authn.SigninRefused as exc:
            refused = exc
    if refused is not None:
        return render(request, "reauth.html", {"errors": {"password": str(refused)}},
                      refused.status)
    return go(request, "/enrol/factor", token)


def _factor_added(db: Session, user: User, row: WebSession, method: str,
                  where: Origin) -> str:
    who = where.as_user(user.id, user.email)
    record(db, "second_factor_added", who, method=method)
    if user.state == "invited":
        user.state = "active"
        record(db, "enrolled", who, method=method)
    token, _ = sessions.start(db, user.id, "full", replacing=row)
    return token


@router.get("/enrol/totp/setup")
def totp_page(request: Request) -> Response:
    context = ctx(request)
    with context.transaction() as db:
        row, user = pending(request, db, ADDING)
        if row.pending_totp is None:
            row.pending_totp = context.totp.encrypt(totp.new_secret().encode())
        secret = context.totp.decrypt(row.pending_totp).decode()
        email = user.email
    return render(request, "totp.html", {"secret": secret, "uri": totp.uri(secret, email)})


@router.post("/enrol/totp")
def totp_confirm(request: Request, code: Annotated[str, Form(max_length=12)] = "") -> Response:
    context, where = ctx(request), origin(request)
    with context.transaction() as db:
        row, user = pending(request, db, ADDING)
        secret = context.totp.decrypt(row.pending_totp).decode() if row.pending_totp else ""
        step = totp.matching_step(secret, code, 0) if secret else None
        if step is not None:
            db.add(Credential(user_id=user.id, kind="totp", totp_secret=row.pending_totp,
                              last_totp_step=step, sign_count=0, created_at=sessions.now()))
            token = _factor_added(db, user, row, "totp", where)
    if step is None:
        return render(request, "totp.html", {"secret": secret, "uri": totp.uri(secret, ""),
                                             "errors": {"code": "That code is not right. "
                                                        "Type the next code your app shows."}},
                      400)
    return go(request, "/agreement", token)


@router.post("/enrol/passkey/options")
def passkey_options(request: Request) -> Response:
    context = ctx(request)
    with context.transaction() as db:
        row, user = pending(request, db, ADDING)
        existing = [c for c in db.scalars(select(Credential.credential_id).where(
            Credential.user_id == user.id, Credential.kind == "passkey")) if c]
        row.challenge = passkeys.new_challenge()
        options = passkeys.registration_options(
            rp_id=context.portal.rp_id, user_id=user.id, email=user.email, name=user.name,
            challenge=row.challenge, existing=existing)
    return Response(options, media_type="application/json")


@router.post("/enrol/passkey/verify")
async def passkey_verify(request: Request) -> Response:
    body = (await request.body()).decode("utf-8", "replace")
    return await anyio.to_thread.run_sync(_passkey_verify, request, body)


def _passkey_verify(request: Request, body: str) -> Response:
    context, where = ctx(request), origin(request)
    with context.transaction() as db:
        try:
            row, user = pending(request, db, ADDING)
        except Denied:
            return json_error("Please start again from your link.", 401)
        challenge, row.challenge = row.challenge, None
        try:
            if challenge is None:
                raise passkeys.PasskeyRejected("Start the passkey registration again.")
            new = passkeys.verify_registration(body, challenge=challenge,
                                               rp_id=context.portal.rp_id,
                                               origin=context.portal.origin)
        except passkeys.PasskeyRejected as exc:
            record(db, "enrolment_failed", where.as_user(user.id, user.email),
                   reason="passkey")
            problem = str(exc)
        else:
            problem = ""
            db.add(Credential(user_id=user.id, kind="passkey", credential_id=new.credential_id,
                              public_key=new.public_key, sign_count=new.sign_count,
                              last_totp_step=0, created_at=sessions.now()))
            token = _factor_added(db, user, row, "passkey", where)
    if problem:
        return json_error(problem, 400)
    return go_json(request, "/agreement", token)


# The link's own pages come last: /enrol/{token} must not shadow the paths above.
def _context_words(db: Session, context: PortalContext, user: User) -> tuple[str, ...]:
    """The names a password must not be built from: the user's schools' and the council's."""
    urns = [s.urn for s in user.schools]
    names = list(db.scalars(select(SchoolRegister.name).where(SchoolRegister.urn.in_(urns)))) \
        if urns else []
    return (*names, context.portal.council_name)


@router.get("/enrol/{token}")
def link_page(request: Request, token: str) -> Response:
    if len(token) > 100 or _refuse_link(request, token) is not None:
        return render(request, "error.html", {"message": GONE}, 410)
    return render(request, "enrol.html", {"token": token})


@router.post("/enrol/{token}")
def set_password(request: Request, token: str,
                 password: Annotated[str, Form(max_length=MAX_PASSWORD)] = "",
                 confirm: Annotated[str, Form(max_length=MAX_PASSWORD)] = "") -> Response:
    context, where = ctx(request), origin(request)
    if len(token) > 100 or _refuse_link(request, token) is not None:
        return render(request, "error.html", {"message": GONE}, 410)
    with context.transaction() as db:
        link, user = _link(db, token, where)
        try:
            if password != confirm:
                raise PasswordRejected("The two passwords are not the same.")
            check_policy(password, user.email, _context_words(db, context, user))
        except PasswordRejected as exc:
            problem = str(exc)
        else:
            problem = ""
            user.password_hash = context.hashing.hash_sync(password)
            link.used_at = sessions.now()
            # a completed reset (or first password) is an event like any other.
            record(db, "password_set", where.as_user(user.id, user.email),
                   purpose=link.purpose)
            sessions.end_all(db, user.id)
            stage = "second_factor" if has_factor(db, user.id) else "enrolling"
            new_token, _ = sessions.start(db, user.id, stage, replacing=None)
    if problem:
        return render(request, "enrol.html", {"token": token, "errors": {
            "confirm" if "not the same" in problem else "password": problem}}, 400)
    return go(request, "/signin/second" if stage == "second_factor" else "/enrol/factor",
              new_token)
