"""Sample checks of access (the access protocol's monitoring: regular audits, internal audit's
sample checks): draw a reproducible random sample of a period's downloads and look-ups, record
a finding for each, sign the check off; and the yearly summary per school.

How a sample is drawn, so anyone can draw it again without this code: the population is every
``download`` and ``lookup`` entry whose time falls on the period's days (UTC), of one school or
of the whole county, by ledger index. Each index ``i`` is ranked by SHA-256 of the text
``<seed>:<i>`` (lowercase hex, compared as text) and the ``size`` lowest-ranked are the
sample. The seed is 32 hex characters from the operating system's CSPRNG unless an auditor
gives one; the ledger is append-only, so a closed period's population never changes, and the
same seed draws the same sample. The seed and the sampled indexes are ledgered
(``sample_drawn``).
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from databook.ledger.models import LedgerEntry, LedgerReasonText
from portal.duties.models import FINDINGS, Concern, LeaverReport, SampleCheck, SampleItem
from portal.events import Origin, record
from portal.models import User
from portal.security import sessions
from schemas.download_reasons import REASONS

KINDS = ("download", "lookup")
MAX_SIZE = 200
SEED = re.compile(r"^[0-9a-f]{8,64}$")


class SampleError(ValueError):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class Period:
    start: date
    end: date  # inclusive
    urn: int | None = None

    def bounds(self) -> tuple[datetime, datetime]:
        return (datetime.combine(self.start, time(), UTC),
                datetime.combine(self.end + timedelta(days=1), time(), UTC))


def parse(start: str, end: str, size: str, seed: str = "",
          today: date | None = None) -> tuple[date, date, int, str]:
    """The form's (or command's) values, checked: ``SampleError`` names the field."""
    today = today or sessions.now().date()
    try:
        first = date.fromisoformat(start.strip())
    except ValueError:
        raise SampleError("start", "Give the first day of the period, such as "
                                   f"{today.replace(day=1).isoformat()}.") from None
    try:
        last = date.fromisoformat(end.strip())
    except ValueError:
        raise SampleError("end", "Give the last day of the period, such as "
                                 f"{today.isoformat()}.") from None
    if last < first:
        raise SampleError("end", "The period must end on or after its first day.")
    if last > today:
        raise SampleError("end", "Draw a sample only of days that have ended or are today.")
    if not size.strip().isdigit() or not 1 <= int(size) <= MAX_SIZE:
        raise SampleError("size", f"The sample size is a whole number from 1 to {MAX_SIZE}.")
    seed = seed.strip().lower()
    if seed and not SEED.match(seed):
        raise SampleError("seed", "A seed is 8 to 64 hexadecimal characters (0-9, a-f); "
                                  "leave it blank for a new one.")
    return first, last, int(size), seed or secrets.token_hex(16)


def population(db: Session, period: Period) -> list[int]:
    start, end = period.bounds()
    query = (select(LedgerEntry.idx).where(LedgerEntry.kind.in_(KINDS), LedgerEntry.at >= start,
                                           LedgerEntry.at < end).order_by(LedgerEntry.idx))
    if period.urn is not None:
        query = query.where(LedgerEntry.urn == period.urn)
    return list(db.scalars(query))


def rank(seed: str, index: int) -> str:
    return hashlib.sha256(f"{seed}:{index}".encode()).hexdigest()


def draw(indexes: Sequence[int], seed: str, size: int) -> list[int]:
    """The ``size`` indexes of lowest rank, in ledger order."""
    return sorted(sorted(indexes, key=lambda i: rank(seed, i))[:size])


def new_check(db: Session, who: Origin, period: Period, size: int, seed: str,
              officer_id: int | None) -> SampleCheck:
    """Draw and record a check (table and ledger) in the caller's transaction."""
    found = population(db, period)
    sample = draw(found, seed, size)
    check = SampleCheck(urn=period.urn, period_from=period.start, period_to=period.end,
                        size=size, seed=seed, population=len(found), drawn_by=officer_id,
                        drawn_at=sessions.now(), ledger_index=-1,
                        items=[SampleItem(entry_index=i) for i in sample])
    db.add(check)
    db.flush()
    check.ledger_index = record(
        db, "sample_drawn", who, check_id=check.id, urn=period.urn,
        period_from=period.start.isoformat(), period_to=period.end.isoformat(), size=size,
        population=len(found), seed=seed, sample=",".join(map(str, sample)))
    return check


def redraw(db: Session, check: SampleCheck) -> tuple[list[int], bool]:
    """The check drawn again from its seed: (the sample, whether it is the one recorded)."""
    again = draw(population(db, Period(check.period_from, check.period_to, check.urn)),
                 check.seed, check.size)
    return again, again == [item.entry_index for item in check.items]


def _open(db: Session, check_id: int) -> SampleCheck:
    check = db.get(SampleCheck, check_id)
    if check is None:
        raise SampleError("", "There is no such sample check.")
    if check.signed_off_at is not None:
        raise SampleError("finding", "This check has been signed off; it cannot change.")
    return check


def note(db: Session, who: Origin, check_id: int, entry_index: int, finding: str,
         officer_id: int) -> None:
    check = _open(db, check_id)
    item = next((i for i in check.items if i.entry_index == entry_index), None)
    if item is None:
        raise SampleError("", "That entry is not in this sample.")
    if finding not in FINDINGS:
        raise SampleError(f"finding-{entry_index}", "Choose a finding for this access.")
    item.finding, item.noted_by, item.noted_at = finding, officer_id, sessions.now()
    record(db, "sample_finding", who, check_id=check.id, entry_index=entry_index,
           finding=finding)


def sign_off(db: Session, who: Origin, check_id: int, officer_id: int) -> SampleCheck:
    check = _open(db, check_id)
    if any(item.finding is None for item in check.items):
        raise SampleError("sign-off", "Record a finding for every sampled access first.")
    check.signed_off_by, check.signed_off_at = officer_id, sessions.now()
    counts = Counter(item.finding for item in check.items)
    record(db, "sample_signed_off", who, check_id=check.id,
           findings=";".join(f"{k}={counts.get(k, 0)}" for k in FINDINGS))
    return check


def items(db: Session, check: SampleCheck) -> list[dict[str, Any]]:
    """What the officer checks for each sampled access: who, when, which school, and the
    reason they gave (its code and any text, which the ledger keeps apart)."""
    indexes = [item.entry_index for item in check.items]
    rows = {idx: (kind, at, body) for idx, kind, at, body in db.execute(
        select(LedgerEntry.idx, LedgerEntry.kind, LedgerEntry.at, LedgerEntry.body)
        .where(LedgerEntry.idx.in_(indexes)))}
    texts = {idx: text for idx, text in db.execute(
        select(LedgerReasonText.idx, LedgerReasonText.text)
        .where(LedgerReasonText.idx.in_(indexes)))}
    out = []
    for item in check.items:
        kind, at, body = rows[item.entry_index]
        entry = json.loads(body)
        out.append({"index": item.entry_index, "kind": kind,
                    "at": sessions.aware(at).strftime("%d/%m/%Y %H:%M UTC"),
                    "where": (f"school {entry['urn']}" if entry.get("urn") is not None
                              else f"partner {entry.get('partner_id')}"),
                    "who": entry.get("actor_email", ""),
                    "reason": REASONS.get(str(entry.get("reason_code")), "none given"),
                    "text": texts.get(item.entry_index, ""), "finding": item.finding or ""})
    return out


def annual(db: Session, year: int) -> list[dict[str, Any]]:
    """Per school, one year: what the access protocol's monitoring asks the council to know
    (access, its reasons, irregular use found, concerns, leavers, sample checks' findings)."""
    start = datetime(year, 1, 1, tzinfo=UTC)
    end = datetime(year + 1, 1, 1, tzinfo=UTC)
    rows: dict[int, Counter[str]] = {}
    users: dict[int, set[int]] = {}

    def school(urn: int | None) -> Counter[str] | None:
        return None if urn is None else rows.setdefault(urn, Counter())

    for kind, urn, actor, body in db.execute(
            select(LedgerEntry.kind, LedgerEntry.urn, LedgerEntry.actor_id, LedgerEntry.body)
            .where(LedgerEntry.kind.in_((*KINDS, "refused")), LedgerEntry.at >= start,
                   LedgerEntry.at < end, LedgerEntry.urn.is_not(None))):
        counts = school(urn)
        assert counts is not None and urn is not None
        if kind == "refused":
            counts["refusals"] += 1
            continue
        counts[f"{kind}s"] += 1
        if json.loads(body).get("reason_code") == "other":
            counts["reason_other"] += 1
        if actor is not None:
            users.setdefault(urn, set()).add(actor)
    for concern in db.scalars(select(Concern).where(Concern.reported_at >= start,
                                                    Concern.reported_at < end)):
        counts = school(concern.urn)
        if counts is not None:
            counts["concerns"] += 1
            counts["concerns_ico"] += concern.status == "closed_ico"
    for leaver in db.scalars(select(LeaverReport).where(LeaverReport.reported_at >= start,
                                                        LeaverReport.reported_at < end)):
        counts = school(leaver.urn)
        assert counts is not None
        counts["leavers_reported"] += 1
    sampled = db.execute(select(SampleItem.finding, LedgerEntry.urn)
                         .join(SampleCheck, SampleCheck.id == SampleItem.check_id)
                         .join(LedgerEntry, LedgerEntry.idx == SampleItem.entry_index)
                         .where(SampleCheck.drawn_at >= start, SampleCheck.drawn_at < end))
    for finding, urn in sampled:
        counts = school(urn)
        if counts is not None:
            counts["sampled"] += 1
            if finding:
                counts[finding] += 1
    names = ("downloads", "lookups", "reason_other", "refusals", "concerns", "concerns_ico",
             "leavers_reported", "sampled", *FINDINGS)
    return [{"urn": urn, "users": len(users.get(urn, ())), **{n: rows[urn][n] for n in names}}
            for urn in sorted(rows)]


def officer_emails(db: Session, ids: set[int | None]) -> dict[int, str]:
    wanted = {i for i in ids if i is not None}
    if not wanted:
        return {}
    found = db.execute(select(User.id, User.email).where(User.id.in_(wanted)))
    return {i: email for i, email in found}
