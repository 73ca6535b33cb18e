"""Report a concern (a school's or a partner's user) and the council's concerns pages.

The reporter's routes sit under their school's or partner's URL and pass the same rules as its
other pages (``portal.access``): own school or partner only, signed in with both factors, on
the current agreement. The report is recorded and the council's channels alerted at once; the
officer's pages (``council``, council role only) list concerns with the 72-hour ICO deadline
counted from the report, and every status change is a ledger entry.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi import Path as PathParam
from fastapi.responses import Response
from sqlalchemy import select

from portal.access import Denied, Viewer, partner_viewer, record_refusal, school_viewer
from portal.alerting import has_channel, send_soon
from portal.context import ctx, origin
from portal.duties import concerns
from portal.duties.models import CONCERN_KINDS, CONCERN_STATUSES, Concern
from portal.pages import render
from portal.routers.common import go
from portal.routers.council_common import council_router, officer, page
from portal.security import sessions
from portal.server_values import PartnerId, Urn

router = APIRouter()
council = council_router("/council/concerns")

Text = Annotated[str, Form(max_length=concerns.MAX_ACCOUNT + 200)]
Short = Annotated[str, Form(max_length=40)]
ConcernId = Annotated[int, PathParam(ge=1, le=2**31 - 1)]


def _form(request: Request, viewer: Viewer, action: str, history: list[concerns.Access],
          errors: dict[str, str] | None = None, typed: dict[str, str] | None = None,
          status: int = 200) -> Response:
    return render(request, "concern.html", {
        "action": action, "kinds": CONCERN_KINDS, "history": history,
        "today": sessions.now().date().isoformat(), "errors": errors or {},
        "typed": typed or {}, "max_account": concerns.MAX_ACCOUNT}, status)


def _history(request: Request, viewer: Viewer, urn: int | None,
             partner_id: str | None) -> list[concerns.Access]:
    with ctx(request).reading() as db:
        return concerns.own_history(db, viewer.user_id, urn=urn, partner_id=partner_id)


def _submit(request: Request, viewer: Viewer, action: str, values: dict[str, str],
            urn: int | None = None, partner_id: str | None = None) -> Response:
    context = ctx(request)
    try:
        with context.transaction() as db:
            concern = concerns.report(
                db, origin(request).as_user(viewer.user_id, viewer.email),
                user_id=viewer.user_id, email=viewer.email, urn=urn, partner_id=partner_id,
                **values)
            alert = concerns.alert_record(concern, context.portal.base_url)
            number, due = concern.id, concerns.deadline(concern)
    except concerns.ConcernError as exc:
        record_refusal(request, Denied(400, str(exc), what="bad_input", urn=urn,
                                       partner_id=partner_id))
        return _form(request, viewer, action, _history(request, viewer, urn, partner_id),
                     {exc.field: str(exc)}, values, 400)
    send_soon(context.alert, alert)
    return render(request, "concern_sent.html", {
        "number": number, "due": due.strftime("%d/%m/%Y %H:%M UTC"),
        "told": has_channel(context.settings), "back": action.rsplit("/", 1)[0]})


@router.get("/schools/{urn}/concern")
def school_form(request: Request, urn: Urn) -> Response:
    viewer = school_viewer(urn, request)
    return _form(request, viewer, f"/schools/{urn}/concern",
                 _history(request, viewer, urn, None))


@router.post("/schools/{urn}/concern")
def school_report(request: Request, urn: Urn, kind: Short = "", happened_on: Short = "",
                  access: Short = "", account: Text = "") -> Response:
    viewer = school_viewer(urn, request)
    return _submit(request, viewer, f"/schools/{urn}/concern",
                   {"kind": kind, "happened_on": happened_on, "access": access,
                    "account": account}, urn=urn)


@router.get("/partners/{partner_id}/concern")
def partner_form(request: Request, partner_id: PartnerId) -> Response:
    viewer = partner_viewer(partner_id, request)
    return _form(request, viewer, f"/partners/{partner_id}/concern",
                 _history(request, viewer, None, partner_id))


@router.post("/partners/{partner_id}/concern")
def partner_report(request: Request, partner_id: PartnerId, kind: Short = "",
                   happened_on: Short = "", access: Short = "", account: Text = "") -> Response:
    viewer = partner_viewer(partner_id, request)
    return _submit(request, viewer, f"/partners/{partner_id}/concern",
                   {"kind": kind, "happened_on": happened_on, "access": access,
                    "account": account}, partner_id=partner_id)


# The council's pages ----------------------------------------------------------------------

def _row(concern: Concern, now: datetime) -> dict[str, Any]:
    due = concerns.deadline(concern)
    open_ = not concern.status.startswith("closed")
    left = due - now
    hours = int(left.total_seconds() // 3600)
    return {"id": concern.id, "reported": sessions.aware(concern.reported_at)
            .strftime("%d/%m/%Y %H:%M UTC"),
            "source": (f"School {concern.urn}" if concern.urn is not None
                       else f"Partner {concern.partner_id}"),
            "kind": CONCERN_KINDS[concern.kind].split(" (")[0], "status": concern.status,
            "status_label": CONCERN_STATUSES[concern.status],
            "due": due.strftime("%d/%m/%Y %H:%M UTC"), "open": open_,
            "overdue": open_ and left.total_seconds() < 0,
            "left": (f"{hours} hours left" if hours >= 0 else f"{-hours} hours overdue")
            if open_ else "closed"}


@council.get("")
def concerns_page(request: Request) -> Response:
    now = sessions.now()
    with ctx(request).reading() as db:
        rows = [_row(c, now) for c in db.scalars(select(Concern).order_by(Concern.id.desc()))]
    return page(request, "concerns.html", {"rows": rows})


def _concern_page(request: Request, concern_id: int, errors: dict[str, str] | None = None,
                  status: int = 200) -> Response:
    with ctx(request).reading() as db:
        concern = db.get(Concern, concern_id)
        if concern is None:
            raise Denied(404, "There is no such concern.")
        values = {"concern": _row(concern, sessions.now()), "reporter": concern.reporter_email,
                  "happened_on": concern.happened_on.strftime("%d/%m/%Y"),
                  "access_index": concern.access_index, "ledger_index": concern.ledger_index,
                  "account": concerns.account_of(db, concern),
                  "changes": concerns.changes(db, concern), "statuses": CONCERN_STATUSES,
                  "errors": errors or {}}
    return page(request, "concern.html", values, status)


@council.get("/{concern_id}")
def concern_page(request: Request, concern_id: ConcernId) -> Response:
    return _concern_page(request, concern_id)


@council.post("/{concern_id}/status")
def concern_status(request: Request, concern_id: ConcernId, status: Short = "") -> Response:
    viewer, who = officer(request)
    try:
        with ctx(request).transaction() as db:
            concerns.set_status(db, who, concern_id, status, viewer.user_id)
    except concerns.ConcernError as exc:
        if not exc.field:
            raise Denied(404, str(exc)) from None
        record_refusal(request, Denied(400, str(exc), what="bad_input"))
        return _concern_page(request, concern_id, {exc.field: str(exc)}, 400)
    return go(request, f"/council/concerns/{concern_id}")
