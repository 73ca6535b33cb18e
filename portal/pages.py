"""Pages and the request hooks every route passes through, apart from the app factory so the
routers can import them: rendering with the CSRF token a form needs, cookies, the CSRF check,
the refusal page (every refusal is recorded by ``portal.access``) and the ledger checkpoint
after a POST."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import anyio.to_thread
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import RedirectResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from databook.ledger.config import from_settings
from databook.ledger.log import checkpoint, next_checkpoint_due
from databook.portal_table import PortalTable
from portal import access
from portal.context import PortalContext, ctx
from portal.security.tokens import csrf_ok, csrf_token


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


async def csrf_guard(request: Request) -> None:
    """Every POST comes from this site's own pages: a browser that says it is cross-site
    (``Sec-Fetch-Site``, ``Origin``) is refused whatever it carries, and the token (hidden
    field or X-CSRF-Token header) must be bound to the visitor's live session, or, only when
    there is none, to their pre-session cookie. A token bound to someone's pre-session cookie
    is worthless alongside a session cookie (an officer's session plus an attacker's
    planted pre cookie and token). Fail closed."""
    if request.method in ("GET", "HEAD", "OPTIONS"):
        return
    cross_site(request)
    presented = request.headers.get("x-csrf-token", "")
    if not presented and request.headers.get("content-type", "").startswith(
            "application/x-www-form-urlencoded"):
        form = await request.form()
        value = form.get("csrf")
        presented = value if isinstance(value, str) else ""
    context = ctx(request)
    binding = await anyio.to_thread.run_sync(csrf_binding, request)
    if not (binding and csrf_ok(context.hmac_key, binding, presented)):
        raise access.Denied(403, "This form has expired or did not come from this site. Go "
                                 "back, reload the page and try again.", what="bad_csrf")


def cross_site(request: Request) -> None:
    """Refuse a POST a browser marks as made from another site or origin. Same-origin is
    allowed, and so is a client that sends neither header (not a browser: it still needs a
    valid token, which only this site's pages hand out). A browser under ``Referrer-Policy:
    no-referrer`` (ours in earlier versions; a page cached from then) sends ``Origin: null`` on
    our own forms, so ``null`` passes only where it also says ``Sec-Fetch-Site:
    same-origin``."""
    fetch_site = request.headers.get("sec-fetch-site")
    sent_origin = request.headers.get("origin")
    own_null = sent_origin == "null" and fetch_site == "same-origin"
    if (fetch_site is not None and fetch_site not in ("same-origin", "none")) or (
            sent_origin not in (None, ctx(request).portal.origin) and not own_null):
        raise access.Denied(403, "This form did not come from this site. Go back, reload the "
                                 "page and try again.", what="cross_site")


def csrf_binding(request: Request) -> str | None:
    """What this request's CSRF token must be bound to: the live session's token (any stage:
    half-way through sign-in too), else the pre-session cookie. Reads the session once (the
    result is cached on the request, as every page needs it)."""
    _viewer_if_any(request)
    viewer: access.Viewer | None = request.state.viewer
    if viewer is not None:
        return viewer.token
    pre = request.cookies.get(ctx(request).portal.pre_cookie_name)
    return pre if pre and len(pre) <= 100 else None


def render(request: Request, template: str, values: Mapping[str, Any] | None = None,
           status: int = 200) -> Response:
    """A page, with the CSRF token its forms need (bound as ``csrf_binding`` says). An
    anonymous visitor gets a random pre-session cookie that the token is bound to."""
    context = ctx(request)
    binding = csrf_binding(request)
    viewer = request.state.viewer
    new_pre = None
    if binding is None:
        binding = new_pre = secrets.token_urlsafe(32)
    response = context.templates.TemplateResponse(
        request, template, {"csrf": csrf_token(context.hmac_key, binding), "viewer": viewer,
                            "council_name": context.portal.council_name,
                            "governance_contact": context.portal.governance_contact,
                            "contact": contact(context.portal),
                            "idle_minutes": context.portal.idle_minutes,
                            "council_signin": bool(context.portal.oidc_issuer),
                            **(values or {})}, status_code=status)
    if new_pre:
        set_cookie(response, context.portal, context.portal.pre_cookie_name, new_pre)
    return response


@dataclass(frozen=True)
class Contact:
    """Whom a person rings when a page says what happened: the council's own settings."""

    name: str
    phone: str
    email: str


def contact(portal: PortalTable) -> Contact:
    return Contact(portal.contact_name, portal.contact_phone, portal.contact_email)


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
            slash = without_slash(request)
            if slash is not None:
                return slash
            return await _refused(request, access.Denied(404, "There is no such page.",
                                                         what="not_found"))
        return await _refused(request, access.Denied(exc.status_code,
                                                     "The request was refused."))


def without_slash(request: Request) -> Response | None:
    """``/signin/`` to ``/signin`` (a GET), on the configured ``base_url`` (never a
    host taken from the request's ``Host`` header). Only for a path some route serves."""
    path = request.url.path
    if request.method not in ("GET", "HEAD") or path == "/" or not path.endswith("/"):
        return None
    bare = path.rstrip("/")
    scope = {**request.scope, "path": bare}
    if not any(route.matches(scope)[0] == Match.FULL for route in request.app.router.routes):
        return None
    query = f"?{request.url.query}" if request.url.query else ""
    return RedirectResponse(f"{ctx(request).portal.origin}{bare}{query}", status_code=307)


def _viewer_if_any(request: Request) -> None:
    """Who made a refused request that never reached a route, so it can be recorded."""
    if not hasattr(request.state, "viewer"):
        with ctx(request).reading() as db:
            access.load_viewer(request, db)
        access.keep_up(request)


XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def attachment(data: bytes, name: str, headers: Mapping[str, str] | None = None) -> Response:
    """An encrypted workbook as a download named ``name`` (an ASCII fallback for old
    browsers, the exact name by RFC 6266's ``filename*``)."""
    fallback = name.encode("ascii", "replace").decode().replace("?", "_").replace('"', "")
    return Response(data, media_type=XLSX, headers={
        "Content-Disposition": f"attachment; filename=\"{fallback}\"; "
                               f"filename*=UTF-8''{quote(name)}", **(headers or {})})
