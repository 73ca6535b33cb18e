"""Small helpers the routers share: the partly-signed-in session, form limits, the cookie."""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from portal.access import Denied, session_row
from portal.context import ctx
from portal.models import User, WebSession
from portal.pages import set_cookie

MAX_EMAIL = 254
MAX_PASSWORD = 256


def pending(request: Request, db: Session, stages: tuple[str, ...]) -> tuple[WebSession, User]:
    """The session of someone half way through signing in or enrolling, at one of ``stages``."""
    row = session_row(request, db)
    if row is None or row.stage not in stages:
        raise Denied(303, "Please sign in.", redirect="/signin")
    user = db.get(User, row.user_id)
    if user is None or user.state in ("left", "suspended"):
        raise Denied(303, "Please sign in.", redirect="/signin")
    return row, user


def with_session(response: Response, request: Request, token: str) -> Response:
    set_cookie(response, ctx(request).portal, ctx(request).portal.cookie_name, token)
    return response


def go(request: Request, to: str, token: str | None = None) -> Response:
    response = RedirectResponse(to, status_code=303)
    return with_session(response, request, token) if token else response


def go_json(request: Request, to: str, token: str) -> Response:
    return with_session(JSONResponse({"next": to}), request, token)


def json_error(message: str, status: int) -> Response:
    return JSONResponse({"error": message}, status_code=status)
