"""What the council officer's pages share: the role check on every route, the readers of the
drop and the roll a page may need, and CSV downloads that a spreadsheet cannot run.

Every council router is made by ``council_router``, so the council-role check is a router
dependency: FastAPI resolves it before the route's own form and query fields are validated,
so a school user is refused with 403 on every council URL, whatever the request carries.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from sqlalchemy.exc import SQLAlchemyError

from portal.access import Denied, Viewer, council_officer
from portal.audit import sources
from portal.audit.sources import AuditError
from portal.context import ctx, origin
from portal.events import Origin
from portal.pages import render
from portal.routers.council_forms import field_error
from schemas.registers import FORMULA_STARTS

PREFIX = "/council"
MAX_FIELD = 500  # the longest text a council form takes (a leaver's reason)


def council_router(prefix: str = "") -> APIRouter:
    """A router whose every route is for the council role only (checked before anything).
    Sub-routers carry the check themselves too, so one included anywhere stays council-only;
    the check runs once per request (FastAPI caches a dependency's result)."""
    return APIRouter(prefix=prefix, dependencies=[Depends(council_officer)])


def officer(request: Request) -> tuple[Viewer, Origin]:
    """The officer (already checked by the router's dependency) and the ledger origin."""
    viewer: Viewer = request.state.viewer
    return viewer, origin(request).as_user(viewer.user_id, viewer.email)


def bad_input(message: str, field: str = "") -> Denied:
    """A 400 naming what is wrong, recorded as a refused ``bad_input``; nothing changed. With
    ``field`` (the input's id), a form's page shows it beside that field (``council_forms``)."""
    return field_error(field, message) if field else Denied(400, message, what="bad_input")


def parse_urn(text: str, field: str = "") -> int:
    """A URN typed into a form: a whole number of up to eight digits, else a clear 400."""
    text = text.strip()
    if not text:
        raise bad_input("Enter the school's URN, such as 112000.", field)
    if not (text.isascii() and text.isdigit() and len(text) <= 8 and int(text) >= 1):
        raise bad_input("A URN is a whole number of up to eight digits, such as 112000.", field)
    return int(text)


def optional_urn(text: str, field: str = "") -> int | None:
    """A URN filter: blank for every school."""
    return parse_urn(text, field) if text.strip() else None


def cell(value: object) -> str:
    """A CSV cell a spreadsheet shows as text: a value starting like a formula (``=``, ``+``,
    ``-``, ``@``) gets a leading apostrophe. Emails and a DSL's typed reason can start so."""
    if value is None:
        return ""
    text = str(value)
    if isinstance(value, str) and text.startswith(FORMULA_STARTS):
        return "'" + text
    return text


def csv_response(rows: Sequence[Mapping[str, Any]], name: str,
                 columns: Iterable[str] = ()) -> Response:
    """A CSV attachment of ``rows`` (the union of their keys, in order, after ``columns``)."""
    header = list(columns)
    for row in rows:
        header += [c for c in row if c not in header]
    out = io.StringIO(newline="")
    writer = csv.writer(out)
    writer.writerow(header)
    writer.writerows([cell(row.get(c)) for c in header] for row in rows)
    return Response(out.getvalue(), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})


def page(request: Request, template: str, values: Mapping[str, Any] | None = None,
         status: int = 200) -> Response:
    return render(request, f"council/{template}", values, status)


def manifests(request: Request) -> dict[str, dict[str, Any]]:
    """Every run's manifest still in the drop (the portal reads the drop, read-only). A
    report that cannot trust them is refused with a 503 page naming why, never guessed."""
    try:
        return sources.manifests(ctx(request).settings)
    except (AuditError, OSError, ValueError) as exc:
        raise Denied(503, f"This report cannot be made just now: {exc}",
                     what="manifest_unverified") from None


def latest_manifest(request: Request) -> tuple[tuple[str, dict[str, Any]] | None, str]:
    """(run id and manifest of ``latest``, or None; why not, for the page)."""
    try:
        return sources.latest_manifest(ctx(request).settings), ""
    except (AuditError, OSError, ValueError) as exc:
        return None, str(exc)


def school_phases(request: Request) -> dict[int, str]:
    """Schools' phases from the roll where the portal host can read it; else none (the usage
    report then counts phases as ``unknown``). A missing SQLite roll is not created."""
    settings = ctx(request).settings
    url = settings.roll_url
    if not url or (url.startswith("sqlite:///")
                   and not Path(url.removeprefix("sqlite:///")).is_file()):
        return {}
    try:
        return sources.school_phases(settings)
    except (SQLAlchemyError, OSError, ValueError, ImportError):
        return {}
