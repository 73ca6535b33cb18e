"""Tell us someone has left (a school's DSL, deputy or head) and the council's leaver reports.

The school's page lists its named users (never another school's) and suspends the one
reported at once (``portal.duties.leavers``); the officer's page (council role only) lists
the reports, suspended first, to confirm or reverse.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi import Path as PathParam
from fastapi.responses import Response
from sqlalchemy import select

from portal.access import Denied, Viewer, record_refusal, school_staff
from portal.context import ctx, origin
from portal.duties import leavers
from portal.duties.models import LEAVER_REASONS, LeaverReport
from portal.models import User
from portal.pages import render
from portal.routers.common import go
from portal.routers.council_common import council_router, officer, page
from portal.security import sessions
from portal.server_values import Urn

router = APIRouter()
council = council_router("/council/leavers")

Short = Annotated[str, Form(max_length=40)]
ReportId = Annotated[int, PathParam(ge=1, le=2**31 - 1)]


def _staff_page(request: Request, viewer: Viewer, urn: int, errors: dict[str, str] | None = None,
                typed: dict[str, str] | None = None, status: int = 200,
                done: str = "") -> Response:
    with ctx(request).reading() as db:
        staff = leavers.colleagues(db, urn, viewer.user_id)
    return render(request, "staff.html", {
        "urn": urn, "staff": staff, "reasons": LEAVER_REASONS, "errors": errors or {},
        "typed": typed or {}, "today": sessions.now().date().isoformat(), "done": done,
        "head": viewer.role == "head"}, status)


@router.get("/schools/{urn}/staff")
def staff_page(request: Request, urn: Urn) -> Response:
    viewer = school_staff(urn, request)
    return _staff_page(request, viewer, urn)


@router.post("/schools/{urn}/staff/leaver")
def report_leaver(request: Request, urn: Urn, target: Short = "", reason: Short = "",
                  last_day: Short = "") -> Response:
    viewer = school_staff(urn, request)
    values = {"target": target.strip(), "reason": reason, "last_day": last_day}
    try:
        with ctx(request).transaction() as db:
            report = leavers.report(db, origin(request).as_user(viewer.user_id, viewer.email),
                                    reporter_id=viewer.user_id, reporter_role=viewer.role,
                                    urn=urn, **values)
            gone = db.get(User, report.user_id)
            name = gone.name if gone is not None else ""
    except leavers.LeaverError as exc:
        record_refusal(request, Denied(400, str(exc), what="bad_input", urn=urn))
        return _staff_page(request, viewer, urn, {exc.field: str(exc)}, values, 400)
    return _staff_page(request, viewer, urn, done=name)


# The council's page -------------------------------------------------------------------------

def _rows(request: Request) -> list[dict[str, Any]]:
    with ctx(request).reading() as db:
        reports = list(db.scalars(select(LeaverReport).order_by(LeaverReport.id.desc())))
        people = {u.id: u for u in db.scalars(select(User).where(User.id.in_(
            {r.user_id for r in reports} | {r.reported_by for r in reports})))}
    order = {"suspended": 0, "confirmed": 1, "reversed": 1}
    out = []
    for r in sorted(reports, key=lambda r: order[r.state]):
        who, by = people.get(r.user_id), people.get(r.reported_by)
        out.append({"id": r.id, "urn": r.urn, "email": who.email if who else "",
                    "by": f"{by.email if by else ''} ({r.reporter_role})",
                    "reason": LEAVER_REASONS[r.reason], "last_day": r.last_day.isoformat(),
                    "reported": sessions.aware(r.reported_at).strftime("%d/%m/%Y %H:%M UTC"),
                    "state": r.state})
    return out


@council.get("")
def leavers_page(request: Request) -> Response:
    return page(request, "leavers.html", {"rows": _rows(request)})


@council.post("/{report_id}/{decision}")
def decide(request: Request, report_id: ReportId,
           decision: Annotated[str, PathParam(pattern="^(confirm|reverse)$")]) -> Response:
    viewer, who = officer(request)
    try:
        with ctx(request).transaction() as db:
            leavers.decide(db, who, report_id, decision, viewer.user_id)
    except leavers.LeaverError as exc:
        if not exc.field:
            raise Denied(404, str(exc)) from None
        raise Denied(409, str(exc), what="bad_input") from None
    return go(request, "/council/leavers")
