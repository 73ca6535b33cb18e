"""One school's databook as an .xlsx, built in memory (it is encrypted before it touches disk).

Least data by construction: the writer takes its columns from ``schemas.databook`` and
nothing else. Text from the source is always written as text (``publish.xlsx`` writes every
string as an inline string, never a formula): a value a spreadsheet would read as a formula
(leading ``=``, ``+``, ``-`` or ``@``) or as an error code also gets Excel's quote prefix.
"""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING

from publish.changes_sheet import about_lines, changes_sheet
from publish.xlsx import (
    FORMULA_PREFIXES,
    HEADER_STYLE,
    PLAIN,
    Sheet,
    Style,
    Value,
    clean_text,
    package,
)
from schemas.databook import (
    COLUMNS,
    DATE_FORMAT,
    HEADERS,
    NOTICE,
    SHEET_ABOUT,
    SHEET_DATABOOK,
)

if TYPE_CHECKING:
    from transform.row_changes import SchoolChanges

__all__ = ["DEFAULT_MARKING", "FORMULA_PREFIXES", "HEADER_STYLE", "RunInfo", "School", "Value",
           "clean_text", "refuse_formulas", "render"]

DEFAULT_MARKING = "OFFICIAL-SENSITIVE"
FORMULA_ELEMENT = re.compile(rb"<f[ >/]")
BOLD, WRAP = Style(bold=True), Style(wrap=True)


@dataclass(frozen=True)
class School:
    urn: int
    dfe_number: str
    name: str


@dataclass(frozen=True)
class RunInfo:
    run_id: str
    as_at: date
    extracted_at: datetime
    starting_point_name: str
    starting_point_phone: str
    #: The protective marking on every page, the About sheet and the file's properties
    #: (``protective_marking`` in the nightly settings).
    marking: str = DEFAULT_MARKING


def _databook_sheet(rows: Sequence[Sequence[Value]]) -> Sheet:
    ws = Sheet(SHEET_DATABOOK, {i: max(c.width, 12) for i, c in enumerate(COLUMNS, start=1)},
               freeze_header=True, filter_columns=len(COLUMNS))
    ws.append(HEADERS, HEADER_STYLE)
    for row in rows:
        ws.append(row)
    return ws


def _about_sheet(school: School, run: RunInfo, children: int,
                 more: Sequence[tuple[str, str]] = ()) -> Sheet:
    ws = Sheet(SHEET_ABOUT, {1: 32, 2: 100})

    def line(label: str, value: Value = None, *, strong: bool = False) -> None:
        if value is None:
            ws.append([label], BOLD if strong else PLAIN)
        else:
            ws.append([label, value], (BOLD, WRAP if isinstance(value, str) else PLAIN))

    line("Safeguarding databook", strong=True)
    line("Protective marking", run.marking)
    line("School", school.name)
    line("URN", str(school.urn))
    line("DfE number", school.dfe_number)
    line("Data as at", run.as_at)
    line("Extracted at", run.extracted_at.strftime("%d/%m/%Y %H:%M %Z").strip())
    line("Run", run.run_id)
    status = (f"{children} pupil(s) on your roll are known to children's social care."
              if children else
              "No pupils on your roll are known to children's social care on this date.")
    line("In this databook", status)
    ws.append([])
    notice = NOTICE.format(starting_point=run.starting_point_name, phone=run.starting_point_phone)
    line("Notice", notice)
    line("Contact", f"{run.starting_point_name}: {run.starting_point_phone}")
    for label, text in more:
        line(label, text)
    ws.append([])
    line("What each column means", strong=True)
    for column in COLUMNS:
        line(column.header, column.meaning)
    return ws


def render(school: School, rows: Sequence[Sequence[Value]], run: RunInfo,
           changes: SchoolChanges | None = None) -> bytes:
    """The workbook: Databook first, then Changes (when ``changes`` is given), then About."""
    if any(len(row) != len(COLUMNS) for row in rows):
        raise ValueError("a databook row does not have the schema's columns")
    sheets = [_databook_sheet(rows)]
    more: list[tuple[str, str]] = []
    if changes is not None:
        sheets.append(changes_sheet(changes))
        more = about_lines(changes)
    sheets.append(_about_sheet(school, run, len(rows), more))
    xlsx = package(sheets, DATE_FORMAT, marking=run.marking,
                   title=f"Safeguarding databook: {school.name}")
    refuse_formulas(xlsx)
    return xlsx


def refuse_formulas(xlsx: bytes) -> None:
    """The last guard before encryption: no worksheet may hold a formula element."""
    with zipfile.ZipFile(io.BytesIO(xlsx)) as package_file:
        for name in package_file.namelist():
            if (name.startswith("xl/worksheets/")
                    and FORMULA_ELEMENT.search(package_file.read(name))):
                raise ValueError(f"a formula reached {name}; the workbook was not written")
