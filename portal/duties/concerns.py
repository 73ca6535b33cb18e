"""Reporting a concern: a school's or a partner's user tells the council of a suspected breach
or inappropriate use (the access protocol's "inform the Council immediately"), and the
council's officers take it from new to closed.

The report names what happened, when, and (if the reporter knows) which of their OWN
downloads or look-ups it is about: they choose it from their history, so nobody types a
child's details to point at a record. The account they write is checked for what looks like a
child's identifiers (a UPN, an NHS number, a postcode, a date of birth) and refused with a
clear message if it has one; it is kept by the ledger apart from the signed entry, like every
other typed text. The UK GDPR gives the council 72 hours from becoming aware of a personal
data breach to report it to the ICO: the clock starts when the school reports it here.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from databook.ledger.models import LedgerEntry, LedgerReasonText
from databook.plain_text import has_unsafe
from portal.duties.models import CONCERN_KINDS, CONCERN_STATUSES, Concern
from portal.events import Origin, record
from portal.security import sessions

#: The UK GDPR (Article 33): report a personal data breach to the ICO within 72 hours.
ICO_DEADLINE = timedelta(hours=72)
MAX_ACCOUNT = 1000
HISTORY = 50
ACCESS_KINDS = ("download", "lookup")

#: What looks like a child's identifiers in an account of what happened.
LOOKS_IDENTIFYING = [
    (re.compile(r"\b[A-Z]\d{11}[0-9A-Z]\b", re.IGNORECASE), "a UPN"),
    (re.compile(r"\b\d{3}[ -]?\d{3}[ -]?\d{4}\b"), "an NHS number or telephone number"),
    (re.compile(r"\b[A-Z]{1,2}\d[A-Z\d]? ?\d[A-Z]{2}\b", re.IGNORECASE), "a postcode"),
    (re.compile(r"\b\d{1,2}[/.-]\d{1,2}[/.-]\d{2,4}\b"), "a date"),
]


class ConcernError(ValueError):
    """Bad input: ``field`` is the form field it belongs to."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class Access:
    """One of the reporter's own downloads or look-ups, as the form lists it."""

    index: int
    label: str


def deadline(concern: Concern) -> datetime:
    return sessions.aware(concern.reported_at) + ICO_DEADLINE


def own_history(db: Session, user_id: int, *, urn: int | None = None,
                partner_id: str | None = None) -> list[Access]:
    """The user's own downloads and look-ups (for this school, or all a partner user made),
    newest first: nobody else's, never a child's details (a look-up shows only its time)."""
    query = (select(LedgerEntry.idx, LedgerEntry.kind, LedgerEntry.at, LedgerEntry.body)
             .where(LedgerEntry.actor_id == user_id, LedgerEntry.kind.in_(ACCESS_KINDS))
             .order_by(LedgerEntry.idx.desc()).limit(HISTORY))
    if urn is not None:
        query = query.where(LedgerEntry.urn == urn)
    found = []
    for idx, kind, at, body in db.execute(query):
        entry = json.loads(body)
        if partner_id is not None and entry.get("partner_id") != partner_id:
            continue
        when = sessions.aware(at).strftime("%d/%m/%Y %H:%M UTC")
        what = (f"Download of the databook as at {entry.get('as_at')}" if kind == "download"
                else "Look-up of one pupil")
        found.append(Access(idx, f"{what}, {when} (ledger entry {idx})"))
    return found


def check_account(text: str) -> str:
    """The account as it will be kept (CRLF made LF, edges trimmed), or ConcernError."""
    text = text.replace("\r\n", "\n").strip()
    if not text:
        raise ConcernError("account", "Say what happened, in a few sentences.")
    if len(text) > MAX_ACCOUNT:
        raise ConcernError("account", f"Keep the account to {MAX_ACCOUNT} characters.")
    if has_unsafe(text.replace("\n", " ")):
        raise ConcernError("account", "Write the account in ordinary characters only.")
    for pattern, what in LOOKS_IDENTIFYING:
        if pattern.search(text):
            raise ConcernError("account", f"The account seems to hold {what}. Never write a "
                                          "child's details here: describe what happened, and "
                                          "give the date in the date field.")
    return text


def check_date(text: str, today: date) -> date:
    try:
        when = date.fromisoformat(text.strip())
    except ValueError:
        raise ConcernError("happened_on", "Give the date it happened, such as "
                                          f"{today.isoformat()}.") from None
    if when > today:
        raise ConcernError("happened_on", "The date it happened cannot be in the future.")
    if when < today - timedelta(days=366):
        raise ConcernError("happened_on", "The date must be within the last year; for anything "
                                          "older, ring the council.")
    return when


def report(db: Session, who: Origin, *, user_id: int, email: str, kind: str, happened_on: str,
           access: str, account: str, urn: int | None = None,
           partner_id: str | None = None) -> Concern:
    """Record a concern (table and ledger, in the caller's transaction). Checks every field
    first; a ConcernError names the first bad one and nothing is written."""
    if kind not in CONCERN_KINDS:
        raise ConcernError("kind", "Choose what the concern is about.")
    moment = sessions.now()
    when = check_date(happened_on, moment.date())
    access_index = None
    if access.strip():
        mine = {a.index for a in own_history(db, user_id, urn=urn, partner_id=partner_id)}
        if not access.strip().isdigit() or int(access) not in mine:
            raise ConcernError("access", "Choose one of your own downloads or look-ups, or "
                                         "\"I don't know\".")
        access_index = int(access)
    text = check_account(account)
    concern = Concern(reported_by=user_id, reporter_email=email, urn=urn, partner_id=partner_id,
                      kind=kind, happened_on=when, access_index=access_index,
                      reported_at=moment, ledger_index=-1, status="new", status_at=moment)
    db.add(concern)
    db.flush()
    concern.ledger_index = record(
        db, "concern_reported", who, concern_id=concern.id, urn=urn, partner_id=partner_id,
        what=kind, happened_on=when.isoformat(), access_index=access_index, reason_text=text)
    return concern


def set_status(db: Session, who: Origin, concern_id: int, status: str,
               officer_id: int) -> Concern:
    concern = db.get(Concern, concern_id)
    if concern is None:
        raise ConcernError("", "There is no such concern.")
    if status not in CONCERN_STATUSES:
        raise ConcernError("status", "Choose the concern's new status.")
    if status == concern.status:
        raise ConcernError("status", "That is already its status.")
    old, concern.status = concern.status, status
    concern.status_at, concern.status_by = sessions.now(), officer_id
    record(db, "concern_status", who, concern_id=concern.id, urn=concern.urn,
           partner_id=concern.partner_id,
           new_status=status, old_status=old)
    return concern


def account_of(db: Session, concern: Concern) -> str:
    """What the reporter wrote (kept by the ledger apart from the signed entry)."""
    row = db.get(LedgerReasonText, concern.ledger_index)
    return row.text if row is not None else "(the account has been erased under retention)"


def changes(db: Session, concern: Concern) -> list[dict[str, Any]]:
    """The concern's ledger entries (report, then each status change), oldest first."""
    rows = db.execute(select(LedgerEntry.idx, LedgerEntry.kind, LedgerEntry.at, LedgerEntry.body)
                      .where(LedgerEntry.kind.in_(("concern_reported", "concern_status")),
                             LedgerEntry.idx >= concern.ledger_index)
                      .order_by(LedgerEntry.idx))
    out = []
    for idx, kind, at, body in rows:
        entry = json.loads(body)
        if entry.get("concern_id") != concern.id:
            continue
        out.append({"index": idx, "at": sessions.aware(at).strftime("%d/%m/%Y %H:%M UTC"),
                    "who": entry.get("actor_email", ""),
                    "what": "Reported" if kind == "concern_reported" else
                    CONCERN_STATUSES.get(str(entry.get("new_status")), "")})
    return out


def alert_record(concern: Concern, base_url: str) -> dict[str, Any]:
    """The alert to the council's channels: who (school or partner), when, the deadline and
    where to look; never what the reporter wrote, which could name a child."""
    source = (f"school {concern.urn}" if concern.urn is not None
              else f"partner {concern.partner_id}")
    due = deadline(concern).strftime("%d/%m/%Y %H:%M UTC")
    link = f"{base_url.rstrip('/')}/council/concerns/{concern.id}"
    return {
        "subject": f"Safeguarding databook: concern {concern.id} reported by {source}",
        "body": "\n".join([
            f"A user of {source} reported {CONCERN_KINDS[concern.kind].lower()}.",
            f"Reported at {sessions.aware(concern.reported_at).strftime('%d/%m/%Y %H:%M UTC')};"
            f" if it is a personal data breach, the ICO must hear by {due}.",
            f"Read it and set its status: {link}"]),
        "run_id": None, "status": "concern", "report": link}
