"""``create_app(settings)``: the portal as one FastAPI application (routers per area).

Cross-cutting rules live here once, for every route, present and future: CSRF on every POST
(a global dependency, so a new route cannot forget it: it fails closed), security headers and
a body-size limit (one ASGI middleware), and the error pages (refusals recorded, bad input
a clear 4xx page, never a traceback).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from fastapi import Depends, FastAPI
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from markupsafe import Markup

from databook import alerts
from databook.database import engine_for, readers, session_factory
from databook.fsio import private_dir
from databook.ledger import sealing
from databook.plain_text import neutral_on_a_page
from databook.portal_table import PortalTable
from databook.settings import HostSettings
from portal import labels
from portal.config import agreement_file, partner_agreement_file
from portal.context import PortalContext
from portal.pages import checkpoint_after, csrf_guard, install_handlers
from portal.routers import (
    concerns,
    council,
    council_signin,
    download,
    enrol,
    health,
    leavers,
    lookup,
    partner,
    public,
    samples,
    school,
    signin,
)
from portal.security.access_log import AccessLog
from portal.security.headers import SecurityHeaders
from portal.security.keys import hmac_key, totp_cipher
from portal.security.passwords import Hashing
from portal.served import Published, trusted_keys

HERE = Path(__file__).parent
log = logging.getLogger("databook.portal")


def key_files(portal: PortalTable) -> list[Path]:
    """The council's public keys the portal trusts: the configured files, and every PEM put
    in the state folder by ``databook portal trust-key``."""
    folder = portal.trusted_keys_dir
    found = sorted(folder.glob("*.pem")) if folder.is_dir() else []
    return [*portal.public_keys, *found]


def _alerter(settings: HostSettings) -> Callable[[Mapping[str, Any]], object]:
    def send(record: Mapping[str, Any]) -> object:
        return alerts.send(settings, record)  # the council's channels (webhook, email)
    return send


def templates() -> Jinja2Templates:
    """The pages, with the filters a person's dates and codes are shown through: London time
    in GOV.UK style ("7 December 2026 at 2:30pm") and plain-English words for codes. Every
    printed value has its control and direction characters shown as ``<U+XXXX>``: a name typed
    with a right-to-left override cannot reverse what follows it (``databook.plain_text``).
    Markup the templates build themselves is left alone."""
    found = Jinja2Templates(directory=str(HERE / "templates"))
    found.env.filters.update(labels.FILTERS)

    def finalize(value: Any) -> Any:
        if isinstance(value, str) and not isinstance(value, Markup):
            return neutral_on_a_page(value)
        return value

    found.env.finalize = finalize
    return found


def build_context(settings: HostSettings) -> PortalContext:
    portal = settings.portal
    private_dir(portal.state_dir)
    engine = sealing.attach(engine_for(portal.database_url, pool_pre_ping=True),
                            portal.state_dir)
    text = agreement_file(portal).read_text("utf-8")
    partner = partner_agreement_file(portal).read_text("utf-8")
    return PortalContext(
        settings=settings, portal=portal, sessions=session_factory(engine), readers=readers(engine),
        hashing=Hashing(portal.hash_concurrency), hmac_key=hmac_key(portal.state_dir),
        totp=totp_cipher(portal.state_dir),
        published=Published(settings.open_drop, lambda: trusted_keys(key_files(portal))),
        templates=templates(), alert=_alerter(settings),
        agreement_text=text, agreement_sha256=hashlib.sha256(text.encode()).hexdigest(),
        partner_agreement_text=partner,
        partner_agreement_sha256=hashlib.sha256(partner.encode()).hexdigest())


def create_app(settings: HostSettings) -> FastAPI:
    context = build_context(settings)
    app = FastAPI(title="Safeguarding Databook", docs_url=None, redoc_url=None,
                  openapi_url=None, redirect_slashes=False,
                  dependencies=[Depends(csrf_guard), Depends(checkpoint_after)])
    app.state.portal = context
    app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")
    for router in (signin.router, enrol.router, school.router, download.router,
                   council.router, public.router, partner.router, lookup.router,
                   health.router, concerns.router, concerns.council, leavers.router,
                   leavers.council, samples.council, council_signin.router):
        app.include_router(router)
    install_handlers(app)
    app.add_middleware(SecurityHeaders, hsts=context.portal.cookie_secure)
    app.add_middleware(AccessLog)  # outermost: it sees every response's final status
    return app
