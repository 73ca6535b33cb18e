"""Download with a reason: the school's encrypted workbook exactly as published, from the
drop's ``latest`` run, served only after the signed manifest and the file's SHA-256 check
out, and only once the ``download`` entry is in the ledger (no entry, no file).

Nothing the browser sends chooses a file: the URN is checked against the user's schools by
``portal.access``, the run must be the one ``latest`` names (an older, unknown or made-up
run id is refused), and the file name comes from the signed manifest.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response

from portal.access import Denied, Viewer, school_downloader, school_offer_page
from portal.alerting import NEEDS_COUNCIL, council_alerts, has_channel
from portal.context import ctx, origin
from portal.events import record
from portal.pages import attachment, render
from portal.reasons import problems
from portal.served import ServedFile, Unavailable
from portal.server_values import Urn, route_of
from schemas.download_reasons import MAX_TEXT, REASONS

router = APIRouter()


def _unavailable(request: Request, viewer: Viewer, urn: int, exc: Unavailable) -> Response:
    """Never serve: record the refusal, tell the council (URN, run id, what failed), show a
    plain page."""
    context = ctx(request)
    with context.transaction() as db:
        record(db, "refused", origin(request).as_user(viewer.user_id, viewer.email),
               what=exc.what, path=route_of(request), urn=urn, run_id=exc.run_id,
               status=503 if exc.what in NEEDS_COUNCIL else 404)
    if exc.what not in NEEDS_COUNCIL:
        return render(request, "error.html", {
            "message": "There is no databook for your school in the current publication."},
            404)
    council_alerts(request.app.state, context.alert).unserved(urn, exc.run_id, exc.what)
    told = ("The council has been told; please try again later or ring the council."
            if has_channel(context.settings) else
            "Please ring the council and tell them, quoting your school's URN.")
    return render(request, "error.html", {
        "message": "Your school's databook cannot be served just now: it did not pass the "
                   f"portal's checks. Nothing was downloaded. {told}"}, 503)


def _form(request: Request, current: ServedFile, errors: dict[str, str] | None = None,
          status: int = 200, code: str = "", text: str = "") -> Response:
    return render(request, "download.html", {"current": current, "reasons": REASONS,
                                             "errors": errors or {}, "code": code,
                                             "text": text, "max_text": MAX_TEXT}, status)


@router.get("/schools/{urn}/download")
def download_page(request: Request, urn: Urn) -> Response:
    viewer = school_offer_page(urn, request, "download")
    try:
        current = ctx(request).published.current(urn)
    except Unavailable as exc:
        return _unavailable(request, viewer, urn, exc)
    return _form(request, current)


@router.post("/schools/{urn}/download")
def download(request: Request, urn: Urn, run_id: Annotated[str, Form(max_length=64)],
             reason: Annotated[str, Form(max_length=20)] = "",
             reason_text: Annotated[str, Form(max_length=2000)] = "") -> Response:
    viewer = school_downloader(urn, request)
    context, who = ctx(request), origin(request).as_user(viewer.user_id, viewer.email)
    try:
        current = context.published.current(urn)
    except Unavailable as exc:
        return _unavailable(request, viewer, urn, exc)
    if run_id != current.run_id:
        raise Denied(404, "That databook is not the current one. Go back to your school's "
                          "page for the current databook.", what="unknown_run", urn=urn)
    text = " ".join(reason_text.split())
    problem = problems(reason, text)
    if problem:
        with context.transaction() as db:
            record(db, "refused", who, what="bad_input", path=route_of(request), urn=urn,
                   status=400)
        return _form(request, current, problem, 400, reason[:20], text[:MAX_TEXT])
    try:
        data = context.published.read(current)
    except Unavailable as exc:
        return _unavailable(request, viewer, urn, exc)
    with context.transaction() as db:
        entry = record(db, "download", who, urn=urn, run_id=current.run_id,
                       file_sha256=current.sha256, as_at=current.as_at, reason_code=reason,
                       reason_text=text or None)
    return attachment(data, current.download_name, {"X-Databook-Entry": str(entry)})
