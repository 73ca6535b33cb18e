"""One school, for the officer: its register entry, its named safeguarding leads, its newest
downloads and look-ups (who, when, why: never a child's details), and whether it is on the
escalation list. Reached from the schools page (each URN links here); council role only, as
every council route (``council_router``)."""

from __future__ import annotations

import json
from typing import Any

from fastapi import Request
from fastapi.responses import Response
from sqlalchemy import select

from databook.ledger import reports
from databook.ledger.models import LedgerEntry
from portal import labels
from portal.access import Denied
from portal.context import ctx
from portal.models import User, UserSchool
from portal.registers import escalation, store
from portal.registers.config import policy_for, urns_with_dsl
from portal.registers.gate import today
from portal.routers.council_common import council_router, latest_manifest, page
from portal.server_values import Urn

router = council_router()
#: The newest this many downloads and look-ups on the page (the Downloads report has all).
NEWEST = 20


def _lookups(request: Request, urn: int) -> list[dict[str, Any]]:
    """The school's newest look-ups from their signed bytes: who, when, why, found or not."""
    with ctx(request).reading() as db:
        bodies = db.scalars(select(LedgerEntry.body).where(
            LedgerEntry.kind == "lookup", LedgerEntry.urn == urn)
            .order_by(LedgerEntry.idx.desc()).limit(NEWEST))
        out = []
        for body in bodies:
            entry = json.loads(bytes(body))
            row = str(entry.get("row", ""))
            out.append({"time": entry.get("time"), "user": entry.get("actor_email"),
                        "reason_code": entry.get("reason_code"),
                        "what": "no pupil found" if row == "none" else
                        "more than one pupil matched" if row == "ambiguous" else
                        "one pupil's record opened"})
    return out


@router.get("/schools/{urn}")
def school_page(request: Request, urn: Urn) -> Response:
    context = ctx(request)
    versions = policy_for(context.portal).versions
    latest, _problem = latest_manifest(request)
    run = escalation.run_schools(latest[1] if latest else None)
    with context.transaction() as db:
        record = store.load(db, urn)
        people = list(db.execute(
            select(User.email, User.name, User.role, User.state).join(UserSchool)
            .where(UserSchool.urn == urn).order_by(User.email)))
        downloads = reports.downloads(db, urn)[::-1][:NEWEST]
        named = urns_with_dsl(db)
        lines = [line for line in escalation.report(
            store.load_all(db), today(), versions, named, run) if line.urn == urn]
    if record is None and not people and urn not in run:
        raise Denied(404, "The council knows of no school with that URN: not on the register, "
                          "in the latest run, or with named users.", what="not_found")
    name = (record.name if record else "") or run.get(urn, "")
    return page(request, "school.html", {
        "urn": urn, "name": name, "record": record, "versions": versions,
        "people": [{"email": e, "name": n, "role": labels.shown(r), "state": labels.shown(s)}
                   for e, n, r, s in people],
        "downloads": downloads, "lookups": _lookups(request, urn),
        "escalation": [labels.shown(line.kind) + (f": {line.detail}" if line.detail else "")
                       for line in lines],
        "in_run": urn in run, "run_id": latest[0] if latest else ""})
