"""Look up one pupil : the portal serves the school's
look-up bundle's header (salt, iterations, check), takes a blind token and a reason, records a
``lookup`` entry naming the row's pseudonym (or "none"), commits it, and only then returns that
one sealed row. The browser holds the school password and opens the row; the portal never can.

Nothing the browser sends chooses a file or a row: the bundle is the one the verified manifest
of the ``latest`` run lists for the user's school, and the row is the one its index gives for
the token. The whole bundle is never served: every row could be opened with one look-up.
"""

from __future__ import annotations

import json
import re
import threading
from datetime import timedelta
from typing import Any

import anyio.to_thread
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from databook.ledger.log import lock as ledger_lock
from databook.ledger.models import LedgerEntry
from databook.plain_text import has_unsafe
from portal.access import school_looker, school_offer_page
from portal.alerting import council_alerts
from portal.context import ctx, origin
from portal.events import record
from portal.pages import render
from portal.routers.download import _unavailable
from portal.security import sessions
from portal.served import ServedFile, Unavailable
from portal.server_values import Urn, route_of
from schemas.download_reasons import MAX_TEXT, NEEDS_TEXT, REASONS

router = APIRouter()
#: Integrity-failure reports recorded per user per hour (a real one is rare: one is enough).
REPORTS_PER_HOUR = 3
TOKEN = re.compile(r"^[0-9a-f]{64}$")
ROW_ID = re.compile(r"^[0-9a-f]{1,128}$")
KIND, FORMAT, KDF = "databook-lookup", 1, "PBKDF2-HMAC-SHA256"
_parsed: dict[str, dict[str, Any]] = {}  # bundle SHA-256 -> parsed bundle (the newest few)
_parsed_lock = threading.Lock()


def _bundle(request: Request, current: ServedFile) -> dict[str, Any]:
    """The school's bundle, its bytes re-checked against the verified manifest each time
    (``Published.read``); parsed once per distinct file."""
    data = ctx(request).published.read(current, lookup=True)
    with _parsed_lock:
        cached = _parsed.get(current.lookup_sha256)
    if cached is not None:
        return cached
    try:
        document = json.loads(data)
        ok = (document.get("kind") == KIND and document.get("format") == FORMAT
              and document.get("kdf") == KDF and document.get("urn") == current.urn
              and isinstance(document.get("index"), dict)
              and isinstance(document.get("rows"), dict))
    except (ValueError, AttributeError):
        ok = False
    if not ok:
        raise Unavailable("tampered", f"{current.run_id}/{current.lookup_file} is not a "
                                      "look-up bundle for this school", current.run_id)
    with _parsed_lock:
        if len(_parsed) > 64:
            _parsed.clear()
        _parsed[current.lookup_sha256] = document
    return dict(document)


def _current(request: Request, urn: int) -> ServedFile:
    current = ctx(request).published.current(urn)
    if not current.lookup_file:
        raise Unavailable("not_published", f"run {current.run_id} has no look-up bundle",
                          current.run_id)
    return current


@router.get("/schools/{urn}/lookup")
def lookup_page(request: Request, urn: Urn) -> Response:
    """The header only: what the browser needs to derive the keys and check the password."""
    viewer = school_offer_page(urn, request, "lookup")
    try:
        current = _current(request, urn)
        bundle = _bundle(request, current)
    except Unavailable as exc:
        return _unavailable(request, viewer, urn, exc)
    header = {"urn": urn, "run_id": str(bundle["run_id"]), "as_at": str(bundle["as_at"]),
              "salt": str(bundle["salt"]),
              "iterations": int(bundle["iterations"]), "check": str(bundle["check"]),
              "columns": bundle.get("columns", [])}
    return render(request, "lookup.html", {
        "current": current, "as_at": str(bundle.get("as_at", current.as_at)),
        "header": json.dumps(header), "reasons": REASONS, "max_text": MAX_TEXT})


def _answer(message: str, status: int) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


async def _body(request: Request) -> dict[str, Any]:
    """The look-up's JSON; anything else (a form, which the CSRF check has already read) is an
    empty, invalid look-up, answered after the access check like every bad input."""
    if not request.headers.get("content-type", "").startswith("application/json"):
        return {}
    try:
        body = await request.json()
    except ValueError:
        body = None
    return body if isinstance(body, dict) else {}


def _text(body: dict[str, Any], name: str, limit: int) -> str:
    value = body.get(name, "")
    return value[:limit + 1] if isinstance(value, str) else ""


def _recent_lookups(db: Session, user_id: int) -> int:
    since = sessions.now() - timedelta(hours=1)
    count = db.scalar(select(func.count()).select_from(LedgerEntry).where(
        LedgerEntry.kind == "lookup", LedgerEntry.actor_id == user_id,
        LedgerEntry.at >= since))
    return int(count or 0)


@router.post("/schools/{urn}/lookup")
async def lookup(request: Request, urn: Urn) -> Response:
    body = await _body(request)
    response: Response = await anyio.to_thread.run_sync(_lookup, request, urn, body)
    return response


def _lookup(request: Request, urn: int, body: dict[str, Any]) -> Response:
    viewer = school_looker(urn, request)
    context, who = ctx(request), origin(request).as_user(viewer.user_id, viewer.email)
    token, run_id = _text(body, "token", 64), _text(body, "run_id", 64)
    reason = _text(body, "reason", 20)
    text = " ".join(_text(body, "reason_text", MAX_TEXT).split())
    problem = ("The look-up was not valid: reload the page." if not TOKEN.match(token)
               else "Choose a reason from the list." if reason not in REASONS
               else "Say why in the box (this reason needs a few words)."
               if reason in NEEDS_TEXT and not text
               else f"Keep the reason to {MAX_TEXT} characters." if len(text) > MAX_TEXT
               else "Write the reason in ordinary characters only." if has_unsafe(text)
               else "")
    if problem:
        with context.transaction() as db:
            record(db, "refused", who, what="bad_input", path=route_of(request), urn=urn,
                   status=400)
        return _answer(problem, 400)
    try:
        current = _current(request, urn)
        bundle = _bundle(request, current)
    except Unavailable as exc:
        _unavailable(request, viewer, urn, exc)
        return _answer("The look-up cannot be served just now. Nothing was looked up.", 503)
    if run_id != str(bundle["run_id"]):
        return _answer("The databook has been updated since this page was opened: reload the "
                       "page and look up again.", 409)
    index = bundle["index"]
    row = "none" if token not in index else "ambiguous" if index[token] is None else str(
        index[token])
    sealed = bundle["rows"].get(row) if row not in ("none", "ambiguous") else None
    with context.transaction() as db:  # committed before the row leaves the server
        # Count and record under the ledger's writer lock, in one transaction: checked first
        # and recorded later, simultaneous look-ups all saw the same count and all passed.
        ledger_lock(db)
        if _recent_lookups(db, viewer.user_id) >= context.portal.lookups_per_hour:
            record(db, "refused", who, what="lookup_rate", path=route_of(request), urn=urn,
                   status=429)
            limited = True
        else:
            record(db, "lookup", who, urn=urn, run_id=current.run_id, row=row,
                   reason_code=reason, reason_text=text or None)
            limited = False
    if limited:
        return _answer("You have made many look-ups in the last hour. Wait a while, or ring "
                       "the council.", 429)
    if row == "ambiguous":
        return JSONResponse({"found": False, "ambiguous": True})
    if not isinstance(sealed, str):
        return JSONResponse({"found": False})
    return JSONResponse({"found": True, "row_id": row, "sealed": sealed})


@router.post("/schools/{urn}/lookup/refused")
async def refused_row(request: Request, urn: Urn) -> Response:
    """The browser refused a sealed row: its tag failed (``bad_tag``), or it opened as another
    child than the one asked for (``wrong_child``). Record it against the row the server
    would serve (only a row id the bundle holds, and only one of those two words, is
    recorded), tell the council."""
    body = await _body(request)
    response: Response = await anyio.to_thread.run_sync(_refused_row, request, urn, body)
    return response


def _refused_row(request: Request, urn: int, body: dict[str, Any]) -> Response:
    viewer = school_looker(urn, request)
    context, who = ctx(request), origin(request).as_user(viewer.user_id, viewer.email)
    row_id = _text(body, "row_id", 128)
    try:
        current = _current(request, urn)
        bundle = _bundle(request, current)
    except Unavailable as exc:
        _unavailable(request, viewer, urn, exc)
        return _answer("Recorded.", 503)
    row = row_id if ROW_ID.match(row_id) and row_id in bundle["rows"] else "unknown"
    what = "wrong_child" if body.get("what") == "wrong_child" else "bad_tag"
    with context.transaction() as db:
        # A report is the user's word, not proof: at most REPORTS_PER_HOUR per user are
        # recorded (counted under the ledger's lock), so nobody can fill the ledger, or the
        # officers' report, with invented failures naming children at their school.
        ledger_lock(db)
        since = sessions.now() - timedelta(hours=1)
        made = int(db.scalar(select(func.count()).select_from(LedgerEntry).where(
            LedgerEntry.kind == "lookup_failed", LedgerEntry.actor_id == viewer.user_id,
            LedgerEntry.at >= since)) or 0)
        if made >= REPORTS_PER_HOUR:
            return _answer("Too many reports in the last hour: ring the council.", 429)
        record(db, "lookup_failed", who, urn=urn, run_id=current.run_id, row=row,
               what=what)
    council_alerts(request.app.state, context.alert).unserved(urn, current.run_id, "tampered")
    return JSONResponse({"recorded": True})

