"""The officer's partners page: every multi-agency partner on the register, whether its
data-sharing agreement is current (a lapsed one stops its users' downloads at once), the
schools and columns it was agreed, its named users, and its newest download.

Council role only, as every council route (``council_router``)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime

from fastapi import Request
from fastapi.responses import Response
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from databook.ledger.models import LedgerEntry
from portal.context import ctx
from portal.labels import day, when
from portal.models import User
from portal.registers import partner_store
from portal.registers.gate import today
from portal.registers.partners import UserPartner
from portal.routers.council_common import council_router, page
from schemas.partners import agreement_current

router = council_router()


@dataclass
class PartnerRow:
    """One partner as the officer reads it: status words, never a child's data."""

    partner_id: str
    name: str
    agreement: str
    current: bool
    schools: int
    columns: str
    users: list[str] = field(default_factory=list)
    last_download: str = ""


def last_partner_downloads(db: Session) -> dict[str, str]:
    """Each partner's newest download, "when by whom", from the signed bytes. Downloads carry
    no URN; the newest few hundred are read (a partner collects at most a few times a day)."""
    found: dict[str, str] = {}
    query = (select(LedgerEntry.body)
             .where(LedgerEntry.kind == "download", LedgerEntry.urn.is_(None))
             .order_by(LedgerEntry.idx.desc()).limit(500))
    for body in db.scalars(query):
        entry = json.loads(bytes(body))
        partner = entry.get("partner_id")
        if isinstance(partner, str) and partner not in found:
            at = datetime.strptime(str(entry["time"]), "%Y-%m-%dT%H:%M:%S.%fZ")
            found[partner] = f"{when(at.replace(tzinfo=UTC))} by {entry.get('actor_email', '')}"
    return found


def partner_rows(db: Session) -> list[PartnerRow]:
    now = today()
    rows: dict[str, PartnerRow] = {}
    for record in partner_store.load_all(db):
        ok = agreement_current(record, now)
        if record.dsa_signed_on is None:
            text = "not signed"
        else:
            text = (f"signed {day(record.dsa_signed_on)}, review "
                    f"{day(record.dsa_review_on) or 'not set'}")
            if not ok:
                text += " (lapsed: downloads stopped)"
        rows[record.partner_id] = PartnerRow(
            record.partner_id, record.name, text, ok, len(record.schools),
            ", ".join(record.columns))
    users = (select(UserPartner.partner_id, User.email, User.state).join(User)
             .where(User.state != "left").order_by(UserPartner.partner_id, User.email))
    for partner_id, email, state in db.execute(users):
        if partner_id in rows:
            rows[partner_id].users.append(f"{email} ({state})")
    for partner_id, text in last_partner_downloads(db).items():
        if partner_id in rows:
            rows[partner_id].last_download = text
    return [rows[k] for k in sorted(rows)]


@router.get("/partners")
def partners_page(request: Request) -> Response:
    with ctx(request).transaction() as db:
        rows = partner_rows(db)
        count = db.scalar(select(func.count()).select_from(UserPartner)) or 0
    return page(request, "partners.html", {
        "rows": rows, "lapsed": [r for r in rows if not r.current], "user_count": count})
