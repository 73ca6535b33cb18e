"""The signed-in pages: home, the individual agreement, and the school page."""

from __future__ import annotations

import json
from typing import Annotated

from fastapi import APIRouter, Form, Query, Request
from fastapi import Path as PathParam
from fastapi.responses import JSONResponse, Response
from sqlalchemy import select

from databook.ledger import receipt
from databook.ledger.config import from_settings, load_signer
from databook.ledger.models import LedgerEntry
from portal.access import Denied, Viewer, agreed, school_viewer, signed_in
from portal.alerting import council_alerts, has_channel
from portal.context import PortalContext, ctx, origin
from portal.events import record
from portal.models import AgreementAcceptance
from portal.pages import render
from portal.registers import gate
from portal.registers.config import HEAD_ROLE, policy_for
from portal.registers.gate import today
from portal.routers.common import go
from portal.security import sessions
from portal.served import Unavailable
from portal.server_values import Urn
from schemas.download_reasons import REASONS

router = APIRouter()


@router.get("/")
def home(request: Request) -> Response:
    viewer = agreed(request)
    if len(viewer.partners) == 1:  # a partner's user: their one partner's page
        return go(request, f"/partners/{next(iter(viewer.partners))}")
    page = "/staff" if viewer.role == HEAD_ROLE else ""  # a head reports leavers only
    if len(viewer.schools) == 1:
        return go(request, f"/schools/{next(iter(viewer.schools))}{page}")
    return render(request, "schools.html", {"schools": sorted(viewer.schools), "page": page})


def agreement_for(context: PortalContext, viewer: Viewer) -> tuple[str, str]:
    """(text, SHA-256) of the individual agreement this person signs: a partner user's is
    about their organisation's cohort, a school's about its pupils."""
    if viewer.role == "partner":
        return context.partner_agreement_text, context.partner_agreement_sha256
    return context.agreement_text, context.agreement_sha256


@router.get("/agreement")
def agreement_page(request: Request) -> Response:
    viewer = signed_in(request)
    context = ctx(request)
    version = context.portal.agreement_version
    return render(request, "agreement.html", {
        "text": agreement_for(context, viewer)[0], "version": version,
        "accepted": version in viewer.agreed_versions,
        "renewal": bool(viewer.agreed_versions) and version not in viewer.agreed_versions})


@router.post("/agreement")
def accept(request: Request, version: Annotated[str, Form(max_length=40)],
           accept: Annotated[str, Form(max_length=10)] = "") -> Response:
    viewer = signed_in(request)
    context = ctx(request)
    current = context.portal.agreement_version
    if accept != "yes" or version != current:
        return render(request, "agreement.html", {
            "text": agreement_for(context, viewer)[0], "version": current, "accepted": False,
            "errors": {"accept": "Tick the box to say you have read and accept this version "
                                 "of the agreement."}}, 400)
    if current not in viewer.agreed_versions:
        with context.transaction() as db:
            db.add(AgreementAcceptance(user_id=viewer.user_id, version=current,
                                       text_sha256=agreement_for(context, viewer)[1],
                                       accepted_at=sessions.now()))
            record(db, "agreement_accepted", origin(request).as_user(viewer.user_id,
                                                                     viewer.email),
                   version=current)
    return go(request, "/")


def own_downloads(request: Request, viewer: Viewer, urn: int) -> list[dict[str, object]]:
    """This user's own downloads for this school, newest first: nobody else's."""
    with ctx(request).reading() as db:
        rows = db.execute(select(LedgerEntry.idx, LedgerEntry.at, LedgerEntry.body).where(
            LedgerEntry.kind == "download", LedgerEntry.actor_id == viewer.user_id,
            LedgerEntry.urn == urn).order_by(LedgerEntry.idx.desc()).limit(50)).all()
    history = []
    for idx, at, body in rows:
        entry = json.loads(body)
        history.append({"index": idx, "at": sessions.aware(at),
                        "run_id": entry.get("run_id"), "as_at": entry.get("as_at"),
                        "reason": REASONS.get(str(entry.get("reason_code")),
                                              entry.get("reason_code"))})
    return history


@router.get("/schools/{urn}")
def school_page(request: Request, urn: Urn,
                downloaded: Annotated[str, Query(max_length=20)] = "") -> Response:
    """The school's current databook and the user's own downloads. ``downloaded`` (set by the
    download form's script) shows the success banner, only for one of the user's own
    downloads listed here: any other number shows nothing."""
    viewer = school_viewer(urn, request)
    context = ctx(request)
    try:
        current = context.published.current(urn)
        problem = ""
    except Unavailable as exc:
        current, problem = None, ("missing" if exc.what in ("nothing_published",
                                                            "not_published")
                                  else "unverified")
        council_alerts(request.app.state, context.alert).unserved(urn, exc.run_id, exc.what)
    history = own_downloads(request, viewer, urn)
    with context.reading() as db:  # the register's gate, before a reason is asked for
        blocked = gate.refusal(db, viewer.user_id, urn, today(), policy_for(context.portal))
    just = next((item for item in history if str(item["index"]) == downloaded.strip()), None)
    return render(request, "school.html", {
        "urn": urn, "current": current, "problem": problem, "downloaded": just,
        "told": has_channel(context.settings),
        "updated": current.updated_label() if current else "",
        "history": history, "ledger_key": ledger_key(request) if history else "",
        "blocked": blocked.message if blocked else "",
        "offers_downloads": context.portal.school_access != "lookups" and not blocked,
        "offers_lookups": context.portal.school_access != "downloads" and not blocked})


def ledger_key(request: Request) -> str:
    """The ledger's public key (Go note verifier format), for checking receipts offline."""
    return load_signer(from_settings(ctx(request).settings)).verifier.vkey()


#: Ledger indexes are BIGINT; a larger number is bad input, not a database error.
MAX_INDEX = 2**62


@router.get("/schools/{urn}/receipts/{index}")
def receipt_json(request: Request, urn: Urn,
                 index: Annotated[int, PathParam(ge=0, le=MAX_INDEX)]) -> Response:
    """One of the user's OWN downloads' receipt (entry, index, a signed checkpoint covering
    it, the inclusion proof), as JSON to keep and check offline with
    ``databook audit check-receipt``. Any other entry (another user's download, another
    school's, a sign-in, an index that does not exist) gets the same 404 and is recorded:
    the answer must not reveal whether the entry exists or whose it is."""
    viewer = school_viewer(urn, request)
    context = ctx(request)
    with context.sessions() as db:
        row = db.get(LedgerEntry, index)
        if (row is None or row.kind != "download" or row.actor_id != viewer.user_id
                or row.urn != urn):
            raise Denied(404, "There is no such receipt.", what="other_receipt", urn=urn)
        found = receipt(db, index, config=from_settings(context.settings))
    return JSONResponse(found, headers={
        "Content-Disposition": f'attachment; filename="databook-receipt-{index}.json"'})
