"""One school's register entry as a plain value, shared by the CSV, the rules and the store.

Rules and reports work on these values rather than on database rows, so they can be tested
without a database and cannot change anything by accident.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from schemas.registers import NO_CONTACT


@dataclass(frozen=True)
class SchoolRecord:
    """What the council holds about one school's protocol, agreement and chasing."""

    urn: int
    name: str
    protocol_signed_on: date | None = None
    protocol_signatory_title: str = ""
    protocol_minute_ref: str = ""
    protocol_version: str = ""
    agreement_signed_on: date | None = None
    agreement_version: str = ""
    agreement_review_on: date | None = None
    letters: tuple[date, ...] = ()
    contact_status: str = NO_CONTACT
    note: str = ""


@dataclass(frozen=True)
class Versions:
    """The current access-protocol and data-sharing-agreement versions (from the settings)."""

    protocol: str = "1.0"
    agreement: str = "1.0"
