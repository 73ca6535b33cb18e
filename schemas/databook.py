"""The published databook: the only columns a school ever sees, in order, with their meaning.

``indicators.md`` is the authority; the header texts below are copied from it exactly. The
workbook writer, the transform and validation all read this tuple, so adding a column here is
the one and only way a new piece of information could reach a school.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal

Kind = Literal["text", "date", "flag"]


@dataclass(frozen=True)
class PublishedColumn:
    key: str
    header: str
    kind: Kind
    meaning: str
    width: int = 14


COLUMNS: Final[tuple[PublishedColumn, ...]] = (
    PublishedColumn("upn", "UPN", "text",
                    "Unique pupil number, as held on your own roll, to match your records.", 16),
    PublishedColumn("name", "Name", "text",
                    "Forename(s) and surname as recorded by social care.", 28),
    PublishedColumn("date_of_birth", "Date of birth", "date", "Date of birth."),
    PublishedColumn("principal_address", "Principal address", "text",
                    "The child's current main address, or 'Address withheld' where it must not "
                    "be disclosed.", 44),
    PublishedColumn("case_status", "Case status", "text",
                    "Open when the child is currently in need, on a child protection plan or in "
                    "care (short breaks included); otherwise Closed.", 10),
    PublishedColumn("cp_current", "Child protection (current)", "flag",
                    "Y when the child is on a child protection plan today."),
    PublishedColumn("cp_start_date", "CP start date", "date", "Start of the current plan."),
    PublishedColumn("cp_previous", "Child protection (previous)", "flag",
                    "Y when the child has been on a child protection plan that has ended."),
    PublishedColumn("previous_cp_date", "Previous CP date", "date",
                    "Start of the most recently ended plan."),
    PublishedColumn("previous_cp_end_date", "Previous CP end date", "date",
                    "End of the most recently ended plan."),
    PublishedColumn("lac_current", "Looked after (current)", "flag",
                    "Y when the child is looked after by the council today (short breaks "
                    "alone do not count)."),
    PublishedColumn("lac_start_date", "Looked after from", "date",
                    "Start of the current period of care."),
    PublishedColumn("cin_current", "Child in need (current)", "flag",
                    "Y when the child is a child in need today and neither on a plan nor "
                    "looked after."),
    PublishedColumn("cin_start_date", "Child in need from", "date",
                    "Referral date of the current episode."),
    PublishedColumn("social_worker", "Social worker", "text",
                    "The allocated social worker, or Starting Point when the case is closed or "
                    "no worker can be contacted.", 24),
    PublishedColumn("social_worker_phone", "Social worker telephone", "text",
                    "The worker's work or mobile number, or Starting Point's number.", 18),
    PublishedColumn("cautions", "Cautions", "text",
                    "Current cautions on the child's record, for your staff's safety.", 36),
    PublishedColumn("dv_notification", "Domestic violence notification", "flag",
                    "Y when the police notified a domestic abuse incident recently."),
    PublishedColumn("dv_notification_date", "DV notification date", "date",
                    "Date of the most recent such notification."),
)

KEYS: Final = tuple(c.key for c in COLUMNS)
HEADERS: Final = tuple(c.header for c in COLUMNS)
DATE_KEYS: Final = frozenset(c.key for c in COLUMNS if c.kind == "date")
FLAG_KEYS: Final = frozenset(c.key for c in COLUMNS if c.kind == "flag")

#: Each Y/N indicator and the date column that must be present exactly when it is Y.
FLAG_DATES: Final = (
    ("cp_current", "cp_start_date"),
    ("cp_previous", "previous_cp_date"),
    ("lac_current", "lac_start_date"),
    ("cin_current", "cin_start_date"),
    ("dv_notification", "dv_notification_date"),
)

#: Columns that travel with published rows inside the pipeline but never reach a workbook:
#: the school the row is for, the case person (for manifests and audit, pseudonymised) and the
#: roll enrolment that put the child in this school's databook (re-checked by validation).
ROUTING_KEYS: Final = ("urn", "person_id", "enrolment_id")

SHEET_DATABOOK: Final = "Databook"
SHEET_ABOUT: Final = "About"
DATE_FORMAT: Final = "dd/mm/yyyy"

NOTICE: Final = (
    "CONFIDENTIAL. This databook is for the designated safeguarding lead of this school only. "
    "Do not print it, forward it or copy its contents into other systems. It shows a very "
    "limited view of children's social care records for pupils on your roll, so that you can "
    "keep them safe. For anything more, contact {starting_point} on {phone}."
)
