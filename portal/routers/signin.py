"""Sign in: email and password, then a passkey or an authenticator code; sign out."""

from __future__ import annotations

import contextlib
from typing import Annotated

import anyio.to_thread
from fastapi import APIRouter, Form, Request
from fastapi.responses import JSONResponse, Response
from sqlalchemy import select

from portal import authn
from portal.access import Denied, session_row, signed_in
from portal.accounts import AccountError, normal_email
from portal.context import ctx, origin
from portal.events import record
from portal.models import Credential
from portal.pages import render
from portal.routers.common import MAX_EMAIL, MAX_PASSWORD, go, go_json, json_error, pending
from portal.security import guard, passkeys, sessions

router = APIRouter()


@router.get("/signin")
def signin_page(request: Request) -> Response:
    return render(request, "signin.html")


@router.post("/signin")
def signin(request: Request, email: Annotated[str, Form(max_length=MAX_EMAIL)] = "",
           password: Annotated[str, Form(max_length=MAX_PASSWORD)] = "") -> Response:
    """Read the account, hash with no transaction open, then record the outcome: the hash
    (~24 ms, more under load) must not hold the database's write lock (see authn)."""
    context, where = ctx(request), origin(request)
    address: str | None = None
    with contextlib.suppress(AccountError):
        address = normal_email(email)
    found, good = authn.Candidate(), None
    device = None if address is None else known_device(request, address)
    if address is not None:
        with context.reading() as db:
            found = authn.candidate(db, address, context, where.client, device)
        good = authn.verify(context, found, password)
    refused: authn.SigninRefused | None = None
    with context.transaction() as db:
        try:
            if address is None:
                record(db, "signin_failed", where, reason="bad_input", method="password")
                raise authn.SigninRefused("bad_input", authn.WRONG, 400)
            user = authn.settle_password(db, context, address, found, good, where, device)
            has_factor = db.scalar(select(Credential.id).where(
                Credential.user_id == user.id).limit(1)) is not None
            stage = "second_factor" if has_factor else "enrolling"
            token, _ = sessions.start(db, user.id, stage, replacing=session_row(request, db))
        except authn.SigninRefused as exc:
            refused = exc
    if isinstance(refused, authn.AccessEnded):
        return render(request, "access_ended.html", {"suspended": refused.state ==
                                                     "suspended"}, refused.status)
    if refused is not None:
        errors = ({"email": "Enter your work email address, like name@school.example."}
                  if not email.strip() else {"email": str(refused)})
        return render(request, "signin.html", {"errors": errors,
                                               "email": email[:100]}, refused.status)
    return go(request, "/signin/second" if stage == "second_factor" else "/enrol/factor", token)


@router.get("/signin/second")
def second_page(request: Request) -> Response:
    with ctx(request).transaction() as db:
        _, user = pending(request, db, ("second_factor",))
        kinds = set(db.scalars(select(Credential.kind).where(Credential.user_id == user.id)))
    return render(request, "second.html", {"passkey": "passkey" in kinds,
                                           "totp": "totp" in kinds})


@router.post("/signin/totp")
def signin_totp(request: Request, code: Annotated[str, Form(max_length=12)] = "") -> Response:
    context, where = ctx(request), origin(request)
    refused: authn.SigninRefused | None = None
    with context.transaction() as db:
        row, user = pending(request, db, ("second_factor",))
        try:
            authn.check_totp(db, context, user, code, where, row,
                             known_device(request, user.email))
            token = authn.signed_in(db, user, row, "totp", where)
            email = user.email
        except authn.SigninRefused as exc:
            refused = exc
    if refused is not None:
        return render(request, "second.html", {"errors": {"code": str(refused)},
                                               "totp": True, "passkey": False},
                      refused.status)
    return remember_device(request, go(request, authn.landing(user), token), email)


@router.post("/signin/passkey/options")
def signin_passkey_options(request: Request) -> Response:
    context = ctx(request)
    with context.transaction() as db:
        row, user = pending(request, db, ("second_factor",))
        allowed = [c for c in db.scalars(select(Credential.credential_id).where(
            Credential.user_id == user.id, Credential.kind == "passkey")) if c]
        row.challenge = passkeys.new_challenge()
        options = passkeys.authentication_options(rp_id=context.portal.rp_id,
                                                  challenge=row.challenge, allowed=allowed)
    return Response(options, media_type="application/json")


@router.post("/signin/passkey/verify")
async def signin_passkey_verify(request: Request) -> Response:
    body = (await request.body()).decode("utf-8", "replace")
    return await anyio.to_thread.run_sync(_passkey_verify, request, body)


def _passkey_verify(request: Request, body: str) -> Response:
    context, where = ctx(request), origin(request)
    refused: authn.SigninRefused | None = None
    with context.transaction() as db:
        try:
            row, user = pending(request, db, ("second_factor",))
        except Denied:
            return json_error("Please sign in again.", 401)
        try:
            authn.check_passkey(db, context, user, row, body, where,
                                known_device(request, user.email))
            token = authn.signed_in(db, user, row, "passkey", where)
            email = user.email
        except authn.SigninRefused as exc:
            refused = exc
    if refused is not None:
        return json_error(str(refused), 403 if refused.reason == "second_factor" else
                          refused.status)
    return remember_device(request, go_json(request, authn.landing(user), token), email)


def device_cookie_name(request: Request) -> str:
    return ctx(request).portal.cookie_name + guard.DEVICE_SUFFIX


def known_device(request: Request, email: str) -> str | None:
    """The id of this browser if it has completed a sign-in to ``email`` before."""
    return guard.device_of(ctx(request).hmac_key, email,
                           request.cookies.get(device_cookie_name(request)))


def remember_device(request: Request, response: Response, email: str) -> Response:
    """After a full sign-in: this browser is now a device the account has used (its
    cookie names the account by an HMAC; an existing one for the account is kept)."""
    if known_device(request, email) is None:
        context = ctx(request)
        response.set_cookie(device_cookie_name(request), guard.device_cookie(
            context.hmac_key, email), max_age=guard.DEVICE_DAYS * 86400, httponly=True,
            secure=context.portal.cookie_secure, samesite="strict", path="/")
    return response


@router.post("/session/extend")
def extend(request: Request) -> Response:
    """"Stay signed in" in the timeout warning: any signed-in request restarts the idle
    clock (``access.keep_up``); this one asks for nothing else. CSRF as every POST."""
    signed_in(request)
    return JSONResponse({"ok": True})


@router.post("/signout")
def signout(request: Request) -> Response:
    context = ctx(request)
    with context.transaction() as db:
        row, user = pending(request, db, ("enrolling", "second_factor", "full"))
        db.delete(row)
        record(db, "signout", origin(request).as_user(user.id, user.email), why="user")
    response = go(request, "/signin")
    response.delete_cookie(context.portal.cookie_name, path="/",
                           secure=context.portal.cookie_secure, httponly=True,
                           samesite="strict")
    return response

