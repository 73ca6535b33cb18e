"""One school's databook as an .xlsx, built in memory (it is encrypted before it touches disk).

Least data by construction: the writer takes its columns from ``schemas.databook`` and
nothing else. Text from the source is always written as text: a value that a spreadsheet
would read as a formula (leading ``=``, ``+``, ``-`` or ``@``) or as an error code is stored as
a string cell with Excel's quote prefix, never as a formula.
"""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import ERROR_CODES, ILLEGAL_CHARACTERS_RE
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.worksheet._write_only import WriteOnlyWorksheet

from schemas.databook import (
    COLUMNS,
    DATE_FORMAT,
    HEADERS,
    NOTICE,
    SHEET_ABOUT,
    SHEET_DATABOOK,
)

FORMULA_PREFIXES = ("=", "+", "-", "@")
FORMULA_ELEMENT = re.compile(rb"<f[ >/]")
Value = str | date | None


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


def clean_text(value: str) -> str:
    """Drop control characters that XML (and so Excel) cannot hold."""
    return ILLEGAL_CHARACTERS_RE.sub("", value)


def text_cell(ws: WriteOnlyWorksheet, value: str, **style: object) -> WriteOnlyCell:
    value = clean_text(value)
    cell = WriteOnlyCell(ws, value=value)
    cell.data_type = "s"  # the value setter made "=..." a formula and "#N/A" an error
    if value.startswith(FORMULA_PREFIXES) or value in ERROR_CODES:
        cell.quotePrefix = True
    for name, setting in style.items():
        setattr(cell, name, setting)
    return cell


def _cell(ws: WriteOnlyWorksheet, value: Value) -> object:
    if value is None:
        return None
    if isinstance(value, str):
        return text_cell(ws, value)
    cell = WriteOnlyCell(ws, value=value)
    cell.number_format = DATE_FORMAT
    return cell


def _databook_sheet(wb: Workbook, rows: Sequence[Sequence[Value]]) -> None:
    ws = wb.create_sheet(SHEET_DATABOOK)
    for i, column in enumerate(COLUMNS, start=1):
        ws.column_dimensions[get_column_letter(i)].width = max(column.width, 12)
    ws.freeze_panes = "A2"
    last = get_column_letter(len(COLUMNS))
    ws.auto_filter.ref = f"A1:{last}{len(rows) + 1}"
    bold, fill = Font(bold=True), PatternFill("solid", fgColor="DDEBF7")
    wrap = Alignment(wrap_text=True, vertical="top")
    ws.append([text_cell(ws, h, font=bold, fill=fill, alignment=wrap) for h in HEADERS])
    for row in rows:
        ws.append([_cell(ws, v) for v in row])


def _about_sheet(wb: Workbook, school: School, run: RunInfo, children: int) -> None:
    ws = wb.create_sheet(SHEET_ABOUT)
    ws.column_dimensions["A"].width = 32
    ws.column_dimensions["B"].width = 100
    bold = Font(bold=True)
    wrap = Alignment(wrap_text=True, vertical="top")

    def line(label: str, value: Value = None, *, strong: bool = False) -> None:
        cells: list[object] = [text_cell(ws, label, font=bold) if strong or value is not None
                               else text_cell(ws, label)]
        if value is not None:
            cells.append(_cell(ws, value) if not isinstance(value, str)
                         else text_cell(ws, value, alignment=wrap))
        ws.append(cells)

    line("Safeguarding databook", strong=True)
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
    ws.append([])
    line("What each column means", strong=True)
    for column in COLUMNS:
        line(column.header, column.meaning)


def render(school: School, rows: Sequence[Sequence[Value]], run: RunInfo) -> bytes:
    if any(len(row) != len(COLUMNS) for row in rows):
        raise ValueError("a databook row does not have the schema's columns")
    wb = Workbook(write_only=True)
    _databook_sheet(wb, rows)
    _about_sheet(wb, school, run, len(rows))
    buffer = io.BytesIO()
    wb.save(buffer)
    refuse_formulas(buffer.getvalue())
    return buffer.getvalue()


def refuse_formulas(xlsx: bytes) -> None:
    """The last guard before encryption: no worksheet may hold a formula element."""
    with zipfile.ZipFile(io.BytesIO(xlsx)) as package:
        for name in package.namelist():
            if name.startswith("xl/worksheets/") and FORMULA_ELEMENT.search(package.read(name)):
                raise ValueError(f"a formula reached {name}; the workbook was not written")

