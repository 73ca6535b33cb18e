"""The ledger's audit reports as council pages, each with a CSV export: downloads, usage by
month, irregular access, and the child look-up.

The reports are ``databook.ledger.reports``, the same functions ``databook audit`` prints, so the
page and the command can never disagree.

The child look-up: ``databook audit child UPN_OR_PERSON_ID`` turns a UPN into a pseudonym with
the keystore's key and the case source. The portal host holds neither (a stolen portal host
must not be able to turn a child into a pseudonym, or read the case database), so the full
look-up stays a command on the council's nightly host; this page says so, and answers from
a pseudonym the officer pastes (the 64 hexadecimal characters of a manifest's ``members``).
A pseudonym is never put in a URL: the look-up is a POST.
"""

from __future__ import annotations

import re
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import Form, Query, Request
from fastapi.responses import Response

from databook.ledger import reports
from databook.ledger.config import from_settings
from portal.context import ctx
from portal.events import record
from portal.routers.common import MAX_EMAIL
from portal.routers.council_common import (
    bad_input,
    council_router,
    csv_response,
    manifests,
    officer,
    optional_urn,
    page,
    school_phases,
)
from portal.routers.council_forms import keeps_form

router = council_router()
PSEUDONYM = re.compile(r"^[0-9a-f]{64}$")
CHILD_FILES = ("run_id", "urn", "name", "sha256")
CHILD_DOWNLOADS = ("index", "time", "user", "urn", "run_id", "reason_code", "reason_text")


#: A page shows the newest this many rows; its CSV has them all.
PAGE_ROWS = 500


def newest(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Newest first, at most ``PAGE_ROWS`` (a term's downloads would make a page of
    megabytes); the template says how many there are in all."""
    return {"rows": rows[::-1][:PAGE_ROWS], "total": len(rows)}


def _downloads(request: Request, school: str, user: str, since: str) -> list[dict[str, Any]]:
    urn = optional_urn(school, "school")
    if len(user) > MAX_EMAIL:
        raise bad_input(f"An email address is at most {MAX_EMAIL} characters.", "user")
    try:
        start = reports.since_date(since.strip() or None)
    except ValueError:
        raise bad_input("Enter the date like 2026-11-21 (year, month, day).", "since") from None
    with ctx(request).transaction() as db:
        return reports.downloads(db, urn, user.strip() or None, start)


#: Generous limits, so an oversized filter gets our own clear message rather than a bare 400.
School = Annotated[str, Query(max_length=1000)]
Email = Annotated[str, Query(max_length=1000)]
Day = Annotated[str, Query(max_length=1000)]


def _downloads_again(request: Request, errors: dict[str, str],
                     values: dict[str, Any]) -> Response:
    """The downloads page with the filters as typed, the error by its field, and no rows."""
    return page(request, "report.html", {
        "title": "Downloads", "rows": [], "total": 0, "columns": reports.DOWNLOAD_COLUMNS,
        "csv": "", "filters": True, "errors": errors, **values})


@router.get("/audit/downloads")
@keeps_form(_downloads_again)
def downloads_page(request: Request, school: School = "", user: Email = "",
                   since: Day = "") -> Response:
    rows = _downloads(request, school, user, since)
    query = urlencode({k: v for k, v in (("school", school), ("user", user),
                                         ("since", since)) if v})
    return page(request, "report.html", {
        "title": "Downloads", **newest(rows), "columns": reports.DOWNLOAD_COLUMNS,
        "csv": "/council/audit/downloads.csv" + (f"?{query}" if query else ""),
        "filters": True, "school": school, "user": user, "since": since})


@router.get("/audit/downloads.csv")
def downloads_csv(request: Request, school: School = "", user: Email = "",
                  since: Day = "") -> Response:
    rows = _downloads(request, school, user, since)
    return csv_response(rows, "downloads.csv", reports.DOWNLOAD_COLUMNS)


def _usage(request: Request) -> list[dict[str, Any]]:
    runs, phases = manifests(request), school_phases(request)
    with ctx(request).transaction() as db:
        return reports.usage(db, runs, phases)


@router.get("/audit/usage")
def usage_page(request: Request) -> Response:
    rows = _usage(request)
    columns: list[str] = []
    for row in rows:
        columns += [c for c in row if c not in columns]
    return page(request, "report.html", {"title": "Usage by month", **newest(rows),
                                         "columns": columns, "csv": "/council/audit/usage.csv"})


@router.get("/audit/usage.csv")
def usage_csv(request: Request) -> Response:
    return csv_response(_usage(request), "usage-by-month.csv")


IRREGULAR_COLUMNS = ("index", "time", "user", "what")


def _irregular(request: Request) -> list[dict[str, Any]]:
    config = from_settings(ctx(request).settings)
    runs = manifests(request)
    with ctx(request).transaction() as db:
        return reports.irregular(db, config, runs)


@router.get("/audit/irregular")
def irregular_page(request: Request) -> Response:
    return page(request, "report.html", {
        "title": "Irregular access", **newest(_irregular(request)),
        "columns": IRREGULAR_COLUMNS, "csv": "/council/audit/irregular.csv"})


@router.get("/audit/irregular.csv")
def irregular_csv(request: Request) -> Response:
    return csv_response(_irregular(request), "irregular.csv", IRREGULAR_COLUMNS)


@router.get("/audit/child")
def child_page(request: Request) -> Response:
    return page(request, "child.html", {"searched": False})


def _child(request: Request, pseudonym: str) -> tuple[list[dict[str, Any]],
                                                      list[dict[str, Any]],
                                                      list[dict[str, Any]]]:
    """Look one pseudonym up; recorded (``council_action`` ``child_lookup``, no pseudonym in
    the entry: the ledger is permanent and a pseudonym is linkable to the child)."""
    text = pseudonym.strip().lower()
    if not PSEUDONYM.match(text):
        raise bad_input("A pseudonym is 64 characters, 0-9 and a-f, as in a manifest's "
                        "members. For a UPN or a person id, run databook audit child on the "
                        "council's nightly host.", "pseudonym")
    runs = manifests(request)
    _viewer, who = officer(request)
    with ctx(request).transaction() as db:
        files, downloads = reports.child(db, text, runs)
        lookups = reports.child_lookups(db, text)  # as ``audit child`` lists them
        record(db, "council_action", who, action="child_lookup",
               target=f"{len(files)} files, {len(downloads)} downloads, "
                      f"{len(lookups)} look-ups")
    return files, downloads, lookups


@router.post("/audit/child")
@keeps_form(lambda request, errors, values: page(request, "child.html", {
    "searched": False, "errors": errors, "pseudonym": values["pseudonym"][:200]}))
def child_lookup(request: Request,
                 pseudonym: Annotated[str, Form(max_length=10_000)]) -> Response:
    files, downloads, lookups = _child(request, pseudonym)
    return page(request, "child.html", {
        "searched": True, "pseudonym": pseudonym.strip().lower(), "files": files,
        "downloads": downloads, "lookups": lookups, "file_columns": CHILD_FILES,
        "download_columns": CHILD_DOWNLOADS})


@router.post("/audit/child.csv")
def child_csv(request: Request, pseudonym: Annotated[str, Form(max_length=10_000)]) -> Response:
    """The downloads of the files that held the child and the look-ups of the child's record,
    in ledger order (the files are listed on the page)."""
    _files, downloads, lookups = _child(request, pseudonym)
    rows = sorted([{"what": "download", **d} for d in downloads]
                  + [{"what": "lookup", **x} for x in lookups], key=lambda r: r["index"])
    return csv_response(rows, "child-downloads.csv", ("what", *CHILD_DOWNLOADS))
