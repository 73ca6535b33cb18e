"""The council officer's pages: every school's protocol and agreement, its named
users, its last download and whether today's file is still uncollected; the escalation list.

The reports (``council_reports``), user management (``council_users``) and the DSL
confirmation round (``council_confirmations``) are sub-routers included here, so
``portal.app`` includes one router. Every route of them all is made by
``council_router``: council role only, checked before anything else.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import Query, Request
from fastapi.responses import Response
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from databook.ledger import reports
from databook.ledger.models import LedgerEntry
from portal import labels
from portal.context import ctx
from portal.labels import when
from portal.models import User, UserSchool
from portal.registers import escalation, rules, store
from portal.registers.config import policy_for, urns_with_dsl
from portal.registers.gate import today
from portal.registers.record import SchoolRecord, Versions
from portal.routers import (
    council_confirmations,
    council_partners,
    council_reports,
    council_school,
    council_users,
)
from portal.routers.council_common import (
    PREFIX,
    council_router,
    csv_response,
    latest_manifest,
    page,
)
from schemas.registers import ESCALATION_COLUMNS

router = council_router(PREFIX)
router.include_router(council_reports.router)
router.include_router(council_users.router)
router.include_router(council_confirmations.router)
router.include_router(council_partners.router)
router.include_router(council_school.router)


@dataclass
class SchoolRow:
    """One line of the schools page: status words the officer reads, never a child's data."""

    urn: int
    name: str = ""
    protocol: str = "not on the register"
    may_download: bool = False
    agreement: str = "not on the register"
    agreement_ok: bool = False
    users: list[str] = field(default_factory=list)
    last_download: str = ""
    uncollected: bool | None = None  # None: not in the latest run


def _protocol(record: SchoolRecord, versions: Versions) -> tuple[str, bool]:
    if record.protocol_signed_on is None:
        return "not signed", False
    ok = rules.protocol_current(record, versions)
    text = f"signed {labels.day(record.protocol_signed_on)}, version {record.protocol_version}"
    return (text if ok else f"{text} (out of date)"), ok


def _agreement(record: SchoolRecord, day: date, versions: Versions) -> tuple[str, bool]:
    if record.agreement_signed_on is None:
        return "not signed", False
    review = labels.day(record.agreement_review_on) if record.agreement_review_on else "none"
    problems = rules.agreement_problems(record, day, versions)
    text = (f"signed {labels.day(record.agreement_signed_on)}, version "
            f"{record.agreement_version}, review {review}")
    return (f"{text} ({'; '.join(problems)})" if problems else text), not problems


def last_downloads(db: Session) -> dict[int, str]:
    """Each school's newest download, "when by whom". The entries are picked by the indexed
    columns (one query, however long the ledger) and shown from their signed bytes.
    A partner's download carries a partner id and no URN, so it is left out in SQL and again
    from the signed bytes: one odd entry must never take the officer's landing page down."""
    newest = (select(func.max(LedgerEntry.idx))
              .where(LedgerEntry.kind == "download", LedgerEntry.urn.is_not(None))
              .group_by(LedgerEntry.urn))
    found: dict[int, str] = {}
    for body in db.scalars(select(LedgerEntry.body).where(LedgerEntry.idx.in_(newest))):
        entry = json.loads(bytes(body))
        urn = entry.get("urn")
        if not isinstance(urn, int) or isinstance(urn, bool):
            continue
        at = datetime.strptime(str(entry["time"]), "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
        found[urn] = f"{when(at)} by {entry.get('actor_email', '')}"
    return found


def school_rows(db: Session, day: date, versions: Versions,
                latest: tuple[str, dict[str, Any]] | None) -> list[SchoolRow]:
    """Every school the council knows of: on the register, in the latest run, or with users."""
    rows: dict[int, SchoolRow] = {}
    for record in store.load_all(db):
        row = rows[record.urn] = SchoolRow(record.urn, record.name)
        row.protocol, row.may_download = _protocol(record, versions)
        row.agreement, row.agreement_ok = _agreement(record, day, versions)
    named = (select(UserSchool.urn, User.email, User.role, User.state).join(User)
             .where(User.state != "left").order_by(UserSchool.urn, User.email))
    for urn, email, role, state in db.execute(named):
        rows.setdefault(int(urn), SchoolRow(int(urn))).users.append(f"{email} ({role}, {state})")
    for urn, text in last_downloads(db).items():
        if urn in rows:
            rows[urn].last_download = text
    if latest is not None:
        manifest = latest[1]
        waiting = {int(r["urn"]) for r in reports.uncollected(db, manifest)}
        for school in manifest.get("schools", []):
            row = rows.setdefault(int(school["urn"]), SchoolRow(int(school["urn"])))
            row.name = row.name or str(school.get("name", ""))
            row.uncollected = row.urn in waiting
    return [rows[urn] for urn in sorted(rows)]


#: Schools shown on one page (a county has hundreds: 600 rows were 90,000 pixels).
PER_PAGE = 50
#: The schools page's filters: what an officer looks for first.
SHOW = {"": "Every school", "cannot": "Cannot download (protocol)",
        "agreement": "Agreement not current", "nobody": "Nobody named",
        "uncollected": "Latest file not collected"}


def _matches(row: SchoolRow, q: str, show: str) -> bool:
    if q and q not in str(row.urn) and q not in row.name.lower():
        return False
    return (show == "" or (show == "cannot" and not row.may_download)
            or (show == "agreement" and not row.agreement_ok)
            or (show == "nobody" and not row.users)
            or (show == "uncollected" and bool(row.uncollected)))


@router.get("")
def schools_page(request: Request, q: Annotated[str, Query(max_length=1000)] = "",
                 show: Annotated[str, Query(max_length=20)] = "",
                 page_number: Annotated[str, Query(alias="page", max_length=10)] = "1"
                 ) -> Response:
    """Every school the council knows of, searched by name or URN and filtered by what needs
    doing, a page at a time; the counts above are always the whole county's."""
    context = ctx(request)
    versions = policy_for(context.portal).versions
    latest, problem = latest_manifest(request)
    with context.transaction() as db:
        rows = school_rows(db, today(), versions, latest)
    q = " ".join(q.split()).lower()[:200]
    show = show if show in SHOW else ""
    found = [r for r in rows if _matches(r, q, show)]
    pages = max(1, -(-len(found) // PER_PAGE))
    at = int(page_number) if page_number.isdigit() and 0 < int(page_number) <= pages else 1
    query = {k: v for k, v in (("q", q), ("show", show)) if v}
    return page(request, "schools.html", {
        "rows": found[(at - 1) * PER_PAGE:at * PER_PAGE], "total": len(found),
        "all": len(rows), "q": q, "show": show, "shows": SHOW, "number": at, "pages": pages,
        "previous": urlencode({**query, "page": at - 1}) if at > 1 else "",
        "next": urlencode({**query, "page": at + 1}) if at < pages else "",
        "run_id": latest[0] if latest else None, "versions": versions,
        "problem": problem, "waiting": sum(1 for r in rows if r.uncollected),
        "nobody": sum(1 for r in rows if not r.users)})


def _escalation(request: Request) -> list[escalation.Line]:
    """The register's lists, and every school of the latest run with nobody named (as the
    schools page counts them)."""
    context = ctx(request)
    latest, _problem = latest_manifest(request)
    with context.transaction() as db:
        records = store.load_all(db)
        named = urns_with_dsl(db)
    return escalation.report(records, today(), policy_for(context.portal).versions, named,
                             escalation.run_schools(latest[1] if latest else None))


@router.get("/escalation")
def escalation_page(request: Request) -> Response:
    return page(request, "escalation.html", {"columns": ESCALATION_COLUMNS,
                                             "lines": [x.cells() for x in _escalation(request)],
                                             "today": labels.day(today())})


@router.get("/escalation.csv")
def escalation_csv(request: Request) -> Response:
    """The same list as ``databook schools escalation --format csv``, for the Board (through
    ``csv_response``, so a school name can never run as a formula in the Board's copy)."""
    rows = [dict(zip(ESCALATION_COLUMNS, line.cells(), strict=True))
            for line in _escalation(request)]
    return csv_response(rows, f"escalation-{today().isoformat()}.csv", ESCALATION_COLUMNS)
