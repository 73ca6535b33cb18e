"""The council's sample checks of access and the yearly summary per school (council role only).

Drawing, findings and sign-off are ``portal.duties.samples``; each is a ledger entry. A check's
page draws it again from its seed and says whether the sample is the one recorded, which is
what internal audit does with ``databook audit sample --check N``.
"""

from __future__ import annotations

from typing import Annotated, Any

import anyio.to_thread
from fastapi import Form, Query, Request
from fastapi import Path as PathParam
from fastapi.responses import Response
from sqlalchemy import select

from portal.access import Denied, record_refusal
from portal.context import ctx
from portal.duties import samples
from portal.duties.models import FINDINGS, SampleCheck
from portal.routers.common import go
from portal.routers.council_common import (
    council_router,
    csv_response,
    officer,
    optional_urn,
    page,
)
from portal.security import sessions

council = council_router("/council/samples")

Short = Annotated[str, Form(max_length=80)]
CheckId = Annotated[int, PathParam(ge=1, le=2**31 - 1)]


def _when(moment: Any) -> str:
    return sessions.aware(moment).strftime("%d/%m/%Y %H:%M UTC") if moment else ""


def _list_page(request: Request, errors: dict[str, str] | None = None,
               typed: dict[str, str] | None = None, status: int = 200) -> Response:
    with ctx(request).reading() as db:
        checks = list(db.scalars(select(SampleCheck).order_by(SampleCheck.id.desc())))
        emails = samples.officer_emails(db, {c.drawn_by for c in checks}
                                        | {c.signed_off_by for c in checks})
        rows = [{"id": c.id, "scope": f"school {c.urn}" if c.urn else "county-wide",
                 "period": f"{c.period_from.isoformat()} to {c.period_to.isoformat()}",
                 "size": f"{len(c.items)} of {c.population}", "seed": c.seed,
                 "drawn": f"{_when(c.drawn_at)} by {emails.get(c.drawn_by or 0, '')}",
                 "signed_off": (f"{_when(c.signed_off_at)} by "
                                f"{emails.get(c.signed_off_by or 0, '')}"
                                if c.signed_off_at else "")} for c in checks]
    today = sessions.now().date()
    return page(request, "samples.html", {
        "rows": rows, "errors": errors or {}, "typed": typed or {}, "max_size": samples.MAX_SIZE,
        "today": today.isoformat(), "month_start": today.replace(day=1).isoformat(),
        "year": today.year}, status)


@council.get("")
def samples_page(request: Request) -> Response:
    return _list_page(request)


@council.post("")
def draw(request: Request, school: Short = "", start: Short = "", end: Short = "",
         size: Short = "", seed: Short = "") -> Response:
    viewer, who = officer(request)
    typed = {"school": school, "start": start, "end": end, "size": size, "seed": seed}
    try:
        urn = optional_urn(school, "school")
        first, last, count, chosen = samples.parse(start, end, size, seed)
        with ctx(request).transaction() as db:
            check = samples.new_check(db, who, samples.Period(first, last, urn), count,
                                      chosen, viewer.user_id)
            number = check.id
    except (samples.SampleError, Denied) as exc:
        field = getattr(exc, "field", "")
        record_refusal(request, Denied(400, str(exc), what="bad_input"))
        return _list_page(request, {field: str(exc)}, typed, 400)
    return go(request, f"/council/samples/{number}")


@council.get("/annual")
def annual_page(request: Request, year: Annotated[int, Query(ge=2000, le=2100)] = 0,
                format: Annotated[str, Query(pattern="^(page|csv)$")] = "page") -> Response:
    year = year or sessions.now().year
    with ctx(request).reading() as db:
        rows = samples.annual(db, year)
    if format == "csv":
        return csv_response(rows, f"access-summary-{year}.csv", ["urn"])
    return page(request, "samples_annual.html", {"rows": rows, "year": year,
                                                 "findings": FINDINGS})


def _check_page(request: Request, check_id: int, errors: dict[str, str] | None = None,
                status: int = 200) -> Response:
    with ctx(request).reading() as db:
        check = db.get(SampleCheck, check_id)
        if check is None:
            raise Denied(404, "There is no such sample check.")
        _again, same = samples.redraw(db, check)
        emails = samples.officer_emails(db, {check.drawn_by, check.signed_off_by})
        values = {"check": check, "items": samples.items(db, check), "same": same,
                  "findings": FINDINGS, "errors": errors or {},
                  "scope": f"school {check.urn}" if check.urn else "county-wide",
                  "drawn": f"{_when(check.drawn_at)} by {emails.get(check.drawn_by or 0, '')}",
                  "signed_off": (f"{_when(check.signed_off_at)} by "
                                 f"{emails.get(check.signed_off_by or 0, '')}"
                                 if check.signed_off_at else "")}
    return page(request, "sample.html", values, status)


@council.get("/{check_id}")
def check_page(request: Request, check_id: CheckId) -> Response:
    return _check_page(request, check_id)


@council.post("/{check_id}/findings")
async def findings(request: Request, check_id: CheckId) -> Response:
    """Every ``finding-<index>`` field of the form; those that changed are ledgered."""
    form = await request.form()
    chosen = {k.removeprefix("finding-"): str(v) for k, v in form.items()
              if k.startswith("finding-") and str(v)}
    return await anyio.to_thread.run_sync(_save_sync, request, check_id, chosen)


def _save_sync(request: Request, check_id: int, chosen: dict[str, str]) -> Response:
    viewer, who = officer(request)
    try:
        with ctx(request).transaction() as db:
            check = db.get(SampleCheck, check_id)
            if check is None:
                raise samples.SampleError("", "There is no such sample check.")
            current = {str(i.entry_index): i.finding for i in check.items}
            for index, finding in chosen.items():
                if index not in current:
                    raise samples.SampleError("", "That entry is not in this sample.")
                if current[index] != finding:
                    samples.note(db, who, check_id, int(index), finding, viewer.user_id)
    except samples.SampleError as exc:
        if not exc.field:
            raise Denied(400, str(exc), what="bad_input") from None
        record_refusal(request, Denied(400, str(exc), what="bad_input"))
        return _check_page(request, check_id, {exc.field: str(exc)}, 400)
    return go(request, f"/council/samples/{check_id}")


@council.post("/{check_id}/sign-off")
def sign_off(request: Request, check_id: CheckId) -> Response:
    viewer, who = officer(request)
    try:
        with ctx(request).transaction() as db:
            samples.sign_off(db, who, check_id, viewer.user_id)
    except samples.SampleError as exc:
        if not exc.field:
            raise Denied(404, str(exc)) from None
        record_refusal(request, Denied(400, str(exc), what="bad_input"))
        return _check_page(request, check_id, {exc.field: str(exc)}, 400)
    return go(request, f"/council/samples/{check_id}")
