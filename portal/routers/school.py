"""The signed-in pages: home, the individual agreement, and the school page."""

from __future__ import annotations

import json
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response
from sqlalchemy import select

from portal.access import Viewer, agreed, school_viewer, signed_in
from portal.app import render
from portal.context import ctx, origin
from portal.events import record
from portal.ledger.models import LedgerEntry
from portal.models import AgreementAcceptance
from portal.published import Unavailable
from portal.routers.common import go
from portal.security import sessions

router = APIRouter()


@router.get("/")
def home(request: Request) -> Response:
    viewer = agreed(request)
    if len(viewer.schools) == 1:
        return go(request, f"/schools/{next(iter(viewer.schools))}")
    return render(request, "schools.html", {"schools": sorted(viewer.schools)})


@router.get("/agreement")
def agreement_page(request: Request) -> Response:
    viewer = signed_in(request)
    context = ctx(request)
    version = context.portal.agreement_version
    return render(request, "agreement.html", {
        "text": context.agreement_text, "version": version,
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
            "text": context.agreement_text, "version": current, "accepted": False,
            "error": "Tick the box to accept this version of the agreement."}, 400)
    if current not in viewer.agreed_versions:
        with context.transaction() as db:
            db.add(AgreementAcceptance(user_id=viewer.user_id, version=current,
                                       text_sha256=context.agreement_sha256,
                                       accepted_at=sessions.now()))
            record(db, "agreement_accepted", origin(request).as_user(viewer.user_id,
                                                                     viewer.email),
                   version=current)
    return go(request, "/")


def own_downloads(request: Request, viewer: Viewer, urn: int) -> list[dict[str, object]]:
    """This user's own downloads for this school, newest first: nobody else's."""
    with ctx(request).transaction() as db:
        rows = db.execute(select(LedgerEntry.idx, LedgerEntry.at, LedgerEntry.body).where(
            LedgerEntry.kind == "download", LedgerEntry.actor_id == viewer.user_id,
            LedgerEntry.urn == urn).order_by(LedgerEntry.idx.desc()).limit(50)).all()
    history = []
    for idx, at, body in rows:
        entry = json.loads(body)
        history.append({"index": idx, "at": sessions.aware(at).strftime("%Y-%m-%d %H:%M UTC"),
                        "run_id": entry.get("run_id"), "as_at": entry.get("as_at"),
                        "reason": entry.get("reason_code")})
    return history


@router.get("/schools/{urn}")
def school_page(request: Request, urn: int) -> Response:
    viewer = school_viewer(urn, request)
    try:
        current = ctx(request).published.current(urn)
        problem = ""
    except Unavailable as exc:
        current, problem = None, ("missing" if exc.what in ("missing", "not_published")
                                  else "unverified")
    return render(request, "school.html", {
        "urn": urn, "current": current, "problem": problem,
        "history": own_downloads(request, viewer, urn)})
