"""Multi-agency partners: the register's CSV columns, a partner's entry as a plain value, and
the one rule both sides need (is the data-sharing agreement current?).

A partner (a school nursing team, an early-help or youth-offending team, a college) receives
its own databook under its own data-sharing agreement: the pupils of the
schools it covers, and only the columns the agreement names. The columns are named by the
workbook's own headers (``schemas.databook``), so an agreement can only ever narrow what a
school sees, never add to it. Shared by the portal (import, export, pages) and the nightly run
(publishing), which is why it lives here and imports neither.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from types import MappingProxyType
from typing import Final

from schemas.databook import COLUMNS, PublishedColumn

#: The register's CSV columns, in order, with what each holds (the README shows this table).
PARTNER_COLUMNS: Final = MappingProxyType({
    "partner_id": "the partner's id: letters, digits and hyphens, e.g. school-nursing-north",
    "name": "the partner's name",
    "schools": "the URNs of the schools whose pupils are its cohort, separated by spaces",
    "columns": "the workbook columns it may see, by header, separated by ';' (UPN always)",
    "dsa_signed_on": "date its data-sharing agreement was signed (blank: not signed)",
    "dsa_review_on": "the agreement's review date (needed when signed; after the signing date)",
})

PARTNER_ID: Final = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38}[A-Za-z0-9])?$")
#: The column every partner file holds, whatever the agreement says: it is how the partner
#: matches a row to its own records.
ALWAYS: Final = "upn"
HEADER_KEYS: Final = MappingProxyType({c.header: c.key for c in COLUMNS})
KEY_HEADERS: Final = MappingProxyType({c.key: c.header for c in COLUMNS})

#: The two columns a partner's Databook sheet adds in front of the agreed ones: which school's
#: roll put the child in the partner's cohort.
SCHOOL_COLUMNS: Final = (
    PublishedColumn("school_urn", "School URN", "text",
                    "The URN of the school whose roll the child is on (two when on two).", 12),
    PublishedColumn("school_name", "School", "text", "That school's name.", 30),
)
#: The manifest's section for partners' files, beside ``schools``.
MANIFEST_PARTNERS: Final = "partners"
#: The run record's and manifest's list of partners whose agreement lapsed (nothing published).
MANIFEST_LAPSED: Final = "partners_lapsed"


@dataclass(frozen=True)
class PartnerRecord:
    """What the council holds about one partner: its cohort, its columns, its agreement."""

    partner_id: str
    name: str
    schools: tuple[int, ...]
    #: Schema keys (``schemas.databook.KEYS``) in schema order, ``upn`` always first.
    columns: tuple[str, ...]
    dsa_signed_on: date | None = None
    dsa_review_on: date | None = None


def ordered_keys(keys: set[str]) -> tuple[str, ...]:
    """The agreed keys in the workbook's own order, the UPN always among them."""
    return tuple(c.key for c in COLUMNS if c.key in keys | {ALWAYS})


def agreement_current(record: PartnerRecord, today: date) -> bool:
    """Signed, and its review date not passed: the only state in which a partner gets a file.
    The review day itself still counts (the agreement is reviewed on that day)."""
    return (record.dsa_signed_on is not None and record.dsa_signed_on <= today
            and record.dsa_review_on is not None and today <= record.dsa_review_on)


def lapse_reason(record: PartnerRecord, today: date) -> str:
    """Why a partner gets no file today, in words for the run report and the escalation list
    (dates and ids only)."""
    if record.dsa_signed_on is None:
        return "no data-sharing agreement signed"
    if record.dsa_signed_on > today:
        return f"agreement signed on {record.dsa_signed_on.isoformat()}, after today"
    if record.dsa_review_on is None:
        return "agreement has no review date"
    return f"agreement review date {record.dsa_review_on.isoformat()} has passed"

#: The partner check's frame (``expectations/partners.json``): one row per child in a
#: partner's file, booleans only, never a child's details.
PARTNER_CHECK_COLUMNS: Final = ("partner", "check_in_school_files", "check_columns_agreed")
