"""Partner register rows in and out of the portal database, through the ORM.

As for schools, import replaces the entries of the partners the file lists and leaves the
others alone; the caller owns the transaction, so every row is written or none.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from portal.registers.partners import Partner, PartnerColumn, PartnerSchool
from portal.registers.store import ImportCounts
from schemas.partners import PartnerRecord


def _record(row: Partner) -> PartnerRecord:
    return PartnerRecord(partner_id=row.partner_id, name=row.name,
                         schools=tuple(sorted(s.urn for s in row.schools)),
                         columns=tuple(c.key for c in sorted(row.columns,
                                                             key=lambda c: c.position)),
                         dsa_signed_on=row.dsa_signed_on, dsa_review_on=row.dsa_review_on)


def load(session: Session, partner_id: str) -> PartnerRecord | None:
    row = session.get(Partner, partner_id)
    return None if row is None else _record(row)


def load_all(session: Session) -> list[PartnerRecord]:
    rows = session.scalars(select(Partner).options(selectinload(Partner.schools),
                                                   selectinload(Partner.columns))
                           .order_by(Partner.partner_id))
    return [_record(row) for row in rows]


def save(session: Session, records: Iterable[PartnerRecord]) -> ImportCounts:
    now = datetime.now(UTC)
    added = changed = unchanged = 0
    for record in records:
        row = session.get(Partner, record.partner_id)
        if row is None:
            row = Partner(partner_id=record.partner_id, updated_at=now)
            session.add(row)
            added += 1
        elif _record(row) == record:
            unchanged += 1
            continue
        else:
            changed += 1
        row.name = record.name
        row.dsa_signed_on = record.dsa_signed_on
        row.dsa_review_on = record.dsa_review_on
        row.updated_at = now
        row.schools = [PartnerSchool(urn=u) for u in record.schools]
        row.columns = [PartnerColumn(key=k, position=i) for i, k in enumerate(record.columns)]
        session.flush()
    session.flush()
    return ImportCounts(added, changed, unchanged)
