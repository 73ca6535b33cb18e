"""The Changes sheet of a school's workbook, and what the About sheet says about it.

Written like the Databook sheet, through ``publish.xlsx``: every text an inline string (a
name such as ``=HYPERLINK(...)`` stays text), dates as real dates, never a formula. The sheet
comes after the Databook sheet, which stays the one a school sees first.
"""

from __future__ import annotations

from publish.xlsx import HEADER_STYLE, Sheet
from schemas.changes import (
    ABOUT_CHANGES,
    ABOUT_COMPARED,
    CHANGE_COLUMNS,
    FIRST_DATABOOK,
    NO_CHANGES,
    SHEET_CHANGES,
)
from transform.row_changes import SchoolChanges

DAY = "%d/%m/%Y"


def empty_message(changes: SchoolChanges) -> str:
    """The sheet's one line when it lists nothing."""
    if changes.previous is None:
        return FIRST_DATABOOK
    return NO_CHANGES.format(previous_as_at=changes.previous.as_at.strftime(DAY))


def changes_sheet(changes: SchoolChanges) -> Sheet:
    ws = Sheet(SHEET_CHANGES, {i: c.width for i, c in enumerate(CHANGE_COLUMNS, start=1)},
               freeze_header=True, filter_columns=len(CHANGE_COLUMNS) if changes.changes else 0)
    ws.append([c.header for c in CHANGE_COLUMNS], HEADER_STYLE)
    if not changes.changes:
        ws.append([empty_message(changes)])
    for change in changes.changes:
        ws.append(change.as_row())
    return ws


def about_lines(changes: SchoolChanges) -> list[tuple[str, str]]:
    """Lines for the About sheet: what the Changes sheet is, and what it compared with."""
    if changes.previous is None:
        compared = "Nothing: this is your school's first databook."
    else:
        compared = (f"Your previous databook, data as at "
                    f"{changes.previous.as_at.strftime(DAY)} (run {changes.previous.run_id}).")
    return [(SHEET_CHANGES, ABOUT_CHANGES), (ABOUT_COMPARED, compared)]
