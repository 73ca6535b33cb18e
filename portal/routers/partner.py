"""A multi-agency partner's pages: its current databook and a download with a
reason, exactly as for a school, under the partner rules of ``portal.access``.

Every route here depends on ``partner_viewer`` or ``partner_downloader``: a school's user or a
council officer is refused on each (403, recorded), another partner's id gets the same 404 as
one that does not exist, and the file is chosen by the server from the signed manifest.
"""

from __future__ import annotations

import json
from typing import Annotated

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import Response
from sqlalchemy import select

from databook.ledger.models import LedgerEntry
from portal.access import Denied, Viewer, partner_downloader, partner_viewer
from portal.alerting import NEEDS_COUNCIL
from portal.context import ctx, origin
from portal.events import record
from portal.labels import day, when
from portal.pages import attachment, render
from portal.reasons import problems
from portal.security import sessions
from portal.served import PartnerFileEntry, Unavailable
from portal.server_values import PartnerId, route_of
from schemas.download_reasons import MAX_TEXT, PARTNER_REASONS

router = APIRouter()


def _history(request: Request, viewer: Viewer, partner_id: PartnerId) -> list[dict[str, object]]:
    """This user's own downloads of this partner's file, newest first."""
    with ctx(request).reading() as db:
        rows = db.execute(select(LedgerEntry.idx, LedgerEntry.at, LedgerEntry.body).where(
            LedgerEntry.kind == "download", LedgerEntry.actor_id == viewer.user_id)
            .order_by(LedgerEntry.idx.desc()).limit(50)).all()
    out = []
    for idx, at, body in rows:
        entry = json.loads(body)
        if entry.get("partner_id") == partner_id:
            out.append({"index": int(idx), "at": when(sessions.aware(at)),
                        "as_at": day(entry.get("as_at")),
                        "reason": PARTNER_REASONS.get(str(entry.get("reason_code")), "")
                        .removesuffix(" (say why below)")})
    return out


def _unavailable(request: Request, viewer: Viewer, partner_id: PartnerId,
                 exc: Unavailable) -> Response:
    with ctx(request).transaction() as db:
        record(db, "refused", origin(request).as_user(viewer.user_id, viewer.email),
               what=exc.what, path=route_of(request), run_id=exc.run_id, partner_id=partner_id,
               status=503 if exc.what in NEEDS_COUNCIL else 404)
    if exc.what not in NEEDS_COUNCIL:
        return render(request, "error.html", {
            "message": "There is no databook for your organisation in the current "
                       "publication."}, 404)
    return render(request, "error.html", {
        "message": "Your databook cannot be served just now: it did not pass the portal's "
                   "checks. Nothing was downloaded. Please try again later or ring the "
                   "council."}, 503)


@router.get("/partners/{partner_id}")
def partner_page(request: Request, partner_id: PartnerId,
                 downloaded: Annotated[str, Query(max_length=20)] = "") -> Response:
    """The partner's current databook and the user's own downloads; ``downloaded`` (set by
    the download form's script) shows the success banner, only for one of their own."""
    viewer = partner_viewer(partner_id, request)
    try:
        current: PartnerFileEntry | None = ctx(request).published.current_partner(partner_id)
    except Unavailable:
        current = None
    history = _history(request, viewer, partner_id)
    just = next((item for item in history if str(item["index"]) == downloaded.strip()), None)
    return render(request, "partner.html", {"partner_id": partner_id, "current": current,
                                            "history": history, "downloaded": just})


def _form(request: Request, current: PartnerFileEntry, errors: dict[str, str] | None = None,
          status: int = 200, code: str = "", text: str = "") -> Response:
    return render(request, "partner_download.html", {
        "current": current, "reasons": PARTNER_REASONS, "errors": errors or {}, "code": code,
        "text": text, "max_text": MAX_TEXT}, status)


@router.get("/partners/{partner_id}/download")
def download_page(request: Request, partner_id: PartnerId) -> Response:
    viewer = partner_viewer(partner_id, request)
    try:
        current = ctx(request).published.current_partner(partner_id)
    except Unavailable as exc:
        return _unavailable(request, viewer, partner_id, exc)
    return _form(request, current)


@router.post("/partners/{partner_id}/download")
def download(request: Request, partner_id: PartnerId, run_id: Annotated[str, Form(max_length=64)],
             reason: Annotated[str, Form(max_length=20)] = "",
             reason_text: Annotated[str, Form(max_length=2000)] = "") -> Response:
    viewer = partner_downloader(partner_id, request)
    context, who = ctx(request), origin(request).as_user(viewer.user_id, viewer.email)
    try:
        current = context.published.current_partner(partner_id)
    except Unavailable as exc:
        return _unavailable(request, viewer, partner_id, exc)
    if run_id != current.run_id:
        raise Denied(404, "That databook is not the current one. Go back to your page for the "
                          "current databook.", what="unknown_run", partner_id=partner_id)
    text = " ".join(reason_text.split())
    problem = problems(reason, text, PARTNER_REASONS)
    if problem:
        with context.transaction() as db:
            record(db, "refused", who, what="bad_input", path=route_of(request),
                   partner_id=partner_id, status=400)
        return _form(request, current, problem, 400, reason[:20], text[:MAX_TEXT])
    try:
        data = context.published.read_partner(current)
    except Unavailable as exc:
        return _unavailable(request, viewer, partner_id, exc)
    with context.transaction() as db:
        entry = record(db, "download", who, partner_id=partner_id, run_id=current.run_id,
               file_sha256=current.sha256, as_at=current.as_at, reason_code=reason,
               reason_text=text or None)
    return attachment(data, current.download_name, {"X-Databook-Entry": str(entry)})
