"""The Changes sheet and the change-count check: the one place their columns and labels live.

A school's Changes sheet lists, for its own pupils, what changed since the school's previous
published databook. It repeats only values the school was (or is now) given in its Databook
sheet, never a reason: "Child protection plan started", not why. The workbook writer, the
comparison in ``transform/row_changes.py`` and the validation suite ``expectations/changes.json``
all read this module, so a label or a column is spelt once.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Final


class ChangeKind(StrEnum):
    """Every kind of change the sheet can report, in the order a child's changes are listed."""

    JOINED = "joined"
    LEFT = "left"
    CP_STARTED = "cp_started"
    CP_ENDED = "cp_ended"
    LAC_STARTED = "lac_started"
    LAC_ENDED = "lac_ended"
    CIN_STARTED = "cin_started"
    CIN_ENDED = "cin_ended"
    DV_NEW = "dv_new"
    WORKER_CHANGED = "worker_changed"
    WORKER_PHONE_CHANGED = "worker_phone_changed"
    CAUTION_ADDED = "caution_added"
    CAUTION_REMOVED = "caution_removed"
    ADDRESS_WITHHELD = "address_withheld"
    ADDRESS_NOT_WITHHELD = "address_not_withheld"


#: What the school reads in the "What changed" column.
LABELS: Final[dict[ChangeKind, str]] = {
    ChangeKind.JOINED: "Joined this school's databook",
    ChangeKind.LEFT: "Left this school's databook",
    ChangeKind.CP_STARTED: "Child protection plan started",
    ChangeKind.CP_ENDED: "Child protection plan ended",
    ChangeKind.LAC_STARTED: "Became looked after",
    ChangeKind.LAC_ENDED: "Ceased to be looked after",
    ChangeKind.CIN_STARTED: "Child in need started",
    ChangeKind.CIN_ENDED: "Child in need ended",
    ChangeKind.DV_NEW: "New domestic abuse notification",
    ChangeKind.WORKER_CHANGED: "Social worker changed",
    ChangeKind.WORKER_PHONE_CHANGED: "Social worker telephone changed",
    ChangeKind.CAUTION_ADDED: "Caution added",
    ChangeKind.CAUTION_REMOVED: "Caution removed",
    ChangeKind.ADDRESS_WITHHELD: "Address now withheld",
    ChangeKind.ADDRESS_NOT_WITHHELD: "Address no longer withheld",
}

#: Each indicator with a start date: (flag column, date column, started, ended).
FLAG_CHANGES: Final = (
    ("cp_current", "cp_start_date", ChangeKind.CP_STARTED, ChangeKind.CP_ENDED),
    ("lac_current", "lac_start_date", ChangeKind.LAC_STARTED, ChangeKind.LAC_ENDED),
    ("cin_current", "cin_start_date", ChangeKind.CIN_STARTED, ChangeKind.CIN_ENDED),
)

#: How ``transform/safety.py`` joins a child's caution labels in one cell.
CAUTION_SEPARATOR: Final = "; "


@dataclass(frozen=True)
class ChangeColumn:
    key: str
    header: str
    width: int


CHANGE_COLUMNS: Final[tuple[ChangeColumn, ...]] = (
    ChangeColumn("upn", "UPN", 16),
    ChangeColumn("name", "Name", 28),
    ChangeColumn("change", "What changed", 34),
    ChangeColumn("before", "From", 30),
    ChangeColumn("after", "To", 30),
)
CHANGE_HEADERS: Final = tuple(c.header for c in CHANGE_COLUMNS)

SHEET_CHANGES: Final = "Changes"

#: The Changes sheet's single line when there is nothing to list.
NO_CHANGES: Final = "No changes since your previous databook (data as at {previous_as_at})."
FIRST_DATABOOK: Final = ("This is your school's first databook: there is no earlier one to "
                         "compare it with.")

#: What the About sheet says about the Changes sheet.
ABOUT_CHANGES: Final = (
    "The Changes sheet lists, for your pupils, what changed since your school's previous "
    "databook: a child who joined or left this databook, a child protection plan, care or "
    "child in need episode that started or ended, a new domestic abuse notification, a new "
    "social worker or telephone number, a caution added or removed, and an address now "
    "withheld or no longer withheld. It shows only what this databook and the previous one "
    "show, never why. Where an address is now withheld the earlier address is not repeated."
)
ABOUT_COMPARED: Final = "Compared with"

#: The per-school frame that the blocking change-count expectation validates: today's rows
#: minus the previous databook's rows must equal the children who joined minus those who left.
BALANCE_COLUMNS: Final = ("urn", "rows_previous", "rows_today", "joined", "left",
                          "net_rows", "net_joined")
#: The counts among them, each at least zero.
BALANCE_COUNTS: Final = ("rows_previous", "rows_today", "joined", "left")

#: Manifest fields this feature adds. Per school: the keyed digest of its published rows, and
#: when its rows last changed (UTC, ``YYYY-MM-DDTHH:MM:SSZ``), which the portal shows as
#: "updated at 11:05 today". Per run: the schools whose rows changed.
MANIFEST_ROWS_DIGEST: Final = "rows_digest"
MANIFEST_UPDATED_AT: Final = "updated_at"
MANIFEST_CHANGED: Final = "changed_schools"
