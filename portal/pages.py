"""Pages and the request hooks every route passes through, apart from the app factory so the
routers can import them: rendering with the CSRF token a form needs, cookies, the CSRF check,
the refusal page (every refusal is recorded by ``portal.access``) and the ledger checkpoint
after a POST."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Mapping
from datetime import UTC, datetime
from typing import Any

import anyio.to_thread
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import RedirectResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from databook.ledger.config import from_settings
from databook.ledger.log import checkpoint, next_checkpoint_due
from databook.portal_table import PortalTable
from portal import access
from portal.context import PortalContext, ctx
from portal.security.tokens import csrf_ok, csrf_token


async def csrf_guard(request: Request) -> None:
    """Every POST carries a token derived from the visitor's session (or, before sign-in,
    their pre-session cookie) in a hidden field or the X-CSRF-Token header. Fail closed."""
    if request.method in ("GET", "HEAD", "OPTIONS"):
        return
    presented = request.headers.get("x-csrf-token", "")
    if not presented and request.headers.get("content-type", "").startswith(
            "application/x-www-form-urlencoded"):
        form = await request.form()
        value = form.get("csrf")
        presented = value if isinstance(value, str) else ""
    context = ctx(request)
    bindings = [request.cookies.get(context.portal.cookie_name),
                request.cookies.get(access.PRE_COOKIE)]
    if not any(b and csrf_ok(context.hmac_key, b, presented) for b in bindings):
        raise access.Denied(403, "This form has expired or did not come from this site. Go "
                                 "back, reload the page and try again.", what="bad_csrf")


def render(request: Request, template: str, values: Mapping[str, Any] | None = None,
           status: int = 200) -> Response:
    """A page, with the CSRF token its forms need. An anonymous visitor gets a random
    pre-session cookie that the token is bound to."""
    context = ctx(request)
    viewer = getattr(request.state, "viewer", None)
    pre = request.cookies.get(access.PRE_COOKIE)
    new_pre = None
    if viewer is not None:
        binding = viewer.token
    else:
        if not pre or len(pre) > 100:
            pre = new_pre = secrets.token_urlsafe(32)
        binding = pre
    response = context.templates.TemplateResponse(
        request, template, {"csrf": csrf_token(context.hmac_key, binding), "viewer": viewer,
                            "council_name": context.portal.council_name,
                            "governance_contact": context.portal.governance_contact,
                            **(values or {})}, status_code=status)
    if new_pre:
        set_cookie(response, context.portal, access.PRE_COOKIE, new_pre)
    return response


def set_cookie(response: Response, portal: PortalTable, name: str, value: str) -> None:
    response.set_cookie(name, value, httponly=True, secure=portal.cookie_secure,
                        samesite="strict", path="/")


def _denied(request: Request, denied: access.Denied) -> Response:
    _viewer_if_any(request)
    access.record_refusal(request, denied)
    if denied.redirect:
        return RedirectResponse(denied.redirect, status_code=303)
    return render(request, "error.html", {"message": str(denied)}, denied.status)


async def _refused(request: Request, denied: access.Denied) -> Response:
    """Database work off the event loop, like every route's."""
    response: Response = await anyio.to_thread.run_sync(_denied, request, denied)
    return response


def install_handlers(app: FastAPI) -> None:
    @app.exception_handler(access.Denied)
    async def on_denied(request: Request, exc: access.Denied) -> Response:
        return await _refused(request, exc)

    @app.exception_handler(RequestValidationError)
    async def on_invalid(request: Request, exc: RequestValidationError) -> Response:
        return await _refused(request, access.Denied(400, "The request was not valid.",
                                                     what="bad_input"))

    @app.exception_handler(StarletteHTTPException)
    async def on_http(request: Request, exc: StarletteHTTPException) -> Response:
        if exc.status_code == 404:
            return await _refused(request, access.Denied(404, "There is no such page.",
                                                         what="not_found"))
        return await _refused(request, access.Denied(exc.status_code,
                                                     "The request was refused."))


def _viewer_if_any(request: Request) -> None:
    """Who made a refused request that never reached a route, so it can be recorded."""
    if not hasattr(request.state, "viewer"):
        with ctx(request).reading() as db:
            access.load_viewer(request, db)
        access.keep_up(request)



async def checkpoint_after(request: Request) -> AsyncIterator[None]:
    """After each POST (where entries are made), sign a ledger checkpoint if one is due
    (the ledger decides: new entries and the last checkpoint older than its interval)."""
    yield
    if request.method == "POST":
        await anyio.to_thread.run_sync(_checkpoint, ctx(request))


def _checkpoint(context: PortalContext) -> None:
    if context.checkpoints.waiting(datetime.now(UTC)):
        return
    config = from_settings(context.settings)
    with context.transaction() as db:
        checkpoint(db, config)
        due = next_checkpoint_due(db, config)
    context.checkpoints.due = due  # only once the checkpoint (if any) is committed
