"""Register rows in and out of the portal database, through the ORM (no SQL built from input).

Import replaces each listed school's entry (letters included) and leaves schools the file
does not list alone, so a partial sheet can never wipe the rest of the register. The caller
owns the transaction: all rows are written in one, or none.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from portal.registers.models import DslConfirmation, RegisterLetter, SchoolRegister
from portal.registers.record import SchoolRecord

_FIELDS = ("name", "protocol_signed_on", "protocol_signatory_title", "protocol_minute_ref",
           "protocol_version", "agreement_signed_on", "agreement_version",
           "agreement_review_on", "contact_status", "note")


@dataclass(frozen=True)
class ImportCounts:
    added: int
    changed: int
    unchanged: int


def _record(row: SchoolRegister) -> SchoolRecord:
    return SchoolRecord(urn=row.urn, letters=tuple(sorted(x.sent_on for x in row.letters)),
                        **{name: getattr(row, name) for name in _FIELDS})


def load(session: Session, urn: int) -> SchoolRecord | None:
    """One school's entry, or None when the register does not hold it."""
    row = session.get(SchoolRegister, urn)
    return None if row is None else _record(row)


def load_all(session: Session) -> list[SchoolRecord]:
    """Every school's entry; the letters come in one more query (``selectinload``), not one
    per school, so the council's pages and the escalation list stay two queries."""
    rows = session.scalars(select(SchoolRegister).options(selectinload(SchoolRegister.letters))
                           .order_by(SchoolRegister.urn))
    return [_record(row) for row in rows]


def save(session: Session, records: Iterable[SchoolRecord]) -> ImportCounts:
    """Write checked records; counts say what changed (for the ledger entry and the officer)."""
    now = datetime.now(UTC)
    added = changed = unchanged = 0
    for record in records:
        row = session.get(SchoolRegister, record.urn)
        if row is None:
            row = SchoolRegister(urn=record.urn, updated_at=now)
            session.add(row)
            added += 1
        elif _record(row) == record:
            unchanged += 1
            continue
        else:
            changed += 1
        for name in _FIELDS:
            setattr(row, name, getattr(record, name))
        row.updated_at = now
        row.letters = [RegisterLetter(sent_on=d) for d in record.letters]
    session.flush()
    return ImportCounts(added, changed, unchanged)


def request_confirmation(session: Session, user_id: int, urn: int, today: date) -> None:
    """Start this term's round for one user: from now the school must confirm them again."""
    row = session.get(DslConfirmation, (user_id, urn))
    if row is None:
        session.add(DslConfirmation(user_id=user_id, urn=urn, requested_on=today,
                                    confirmed_by=""))
    else:
        row.requested_on = today
    session.flush()


def confirm(session: Session, user_id: int, urn: int, by: str, today: date) -> None:
    """Record the school's answer that the user is still its DSL (lifts a suspension)."""
    row = session.get(DslConfirmation, (user_id, urn))
    if row is None:
        row = DslConfirmation(user_id=user_id, urn=urn, requested_on=None)
        session.add(row)
    row.confirmed_on = today
    row.confirmed_by = by
    row.suspended_on = None
    session.flush()


def confirmation_dates(session: Session, user_id: int,
                       urn: int) -> tuple[date | None, date | None]:
    """(requested_on, confirmed_on) for the rules; (None, None) before any round."""
    row = session.get(DslConfirmation, (user_id, urn))
    return (None, None) if row is None else (row.requested_on, row.confirmed_on)
