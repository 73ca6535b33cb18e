"""Read and write the partner register as CSV, checked as strictly as the schools register.

All or nothing: every row is checked before anything is written, the first bad row is named by
line and column, and a cell a spreadsheet would run as a formula is refused. ``columns`` names
workbook headers exactly as ``schemas.databook`` spells them: a name that is not an approved
column is refused, so no agreement can reach a column a school does not see.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping
from datetime import date
from pathlib import Path

from portal.registers.csvio import URN, RegisterError, _Cell, _date, parse_rows, read_text
from schemas.partners import (
    ALWAYS,
    HEADER_KEYS,
    KEY_HEADERS,
    PARTNER_COLUMNS,
    PARTNER_ID,
    PartnerRecord,
    ordered_keys,
)
from schemas.registers import FORMULA_STARTS

MAX_NAME = 200
MAX_ROWS = 10_000
MAX_SCHOOLS = 2_000


def _name(cell: _Cell) -> str:
    if not cell.value:
        raise cell.fail("is empty")
    if cell.value.startswith(FORMULA_STARTS):
        raise cell.fail("starts with = + - @ or a control character, which a spreadsheet "
                        "would run as a formula")
    if len(cell.value) > MAX_NAME:
        raise cell.fail(f"is longer than {MAX_NAME} characters")
    if any(ord(ch) < 32 for ch in cell.value):
        raise cell.fail("holds a control character")
    return cell.value


def _schools(cell: _Cell) -> tuple[int, ...]:
    parts = cell.value.split()
    if not parts:
        raise cell.fail("is empty: a partner's cohort is the pupils of at least one school")
    for part in parts:
        if not URN.match(part):
            raise _Cell(cell.line, cell.column, part).fail("is not a six-digit URN")
    if len(set(parts)) != len(parts):
        raise cell.fail("lists the same URN twice")
    if len(parts) > MAX_SCHOOLS:
        raise cell.fail(f"lists more than {MAX_SCHOOLS} schools")
    return tuple(sorted(int(p) for p in parts))


def _columns(cell: _Cell) -> tuple[str, ...]:
    if cell.value.startswith(FORMULA_STARTS):
        raise cell.fail("starts with = + - @ or a control character, which a spreadsheet "
                        "would run as a formula")
    names = [n.strip() for n in cell.value.split(";") if n.strip()]
    keys: set[str] = set()
    for name in names:
        key = HEADER_KEYS.get(name)
        if key is None:
            raise _Cell(cell.line, cell.column, name).fail(
                "is not a databook column (use the header exactly as the workbook shows it)")
        if key in keys:
            raise _Cell(cell.line, cell.column, name).fail("is listed twice")
        keys.add(key)
    return ordered_keys(keys)


def _row(line: int, raw: Mapping[str, str], today: date) -> PartnerRecord:
    def cell(column: str) -> _Cell:
        return _Cell(line, column, (raw.get(column) or "").strip())

    pid = cell("partner_id")
    if not PARTNER_ID.match(pid.value):
        raise pid.fail("is not a partner id (letters, digits and hyphens, at most 40)")
    name = _name(cell("name"))
    schools = _schools(cell("schools"))
    columns = _columns(cell("columns"))
    signed = _date(cell("dsa_signed_on"), today, past_only=True)
    review = _date(cell("dsa_review_on"), today, past_only=False)
    if signed is not None:
        if review is None:
            raise cell("dsa_review_on").fail("is needed when the agreement is signed")
        if review <= signed:
            raise cell("dsa_review_on").fail("is not after the signing date")
    elif review is not None:
        raise cell("dsa_signed_on").fail("is empty, but the agreement has a review date")
    return PartnerRecord(partner_id=pid.value, name=name, schools=schools, columns=columns,
                         dsa_signed_on=signed, dsa_review_on=review)


def parse(text: str, today: date) -> list[PartnerRecord]:
    """Every row checked; the first bad one raises, naming its line (1 is the header)."""
    return parse_rows(text, PARTNER_COLUMNS, "partners", lambda line, raw: _row(line, raw, today),
                      lambda record: ("partner_id", record.partner_id), MAX_ROWS)


def read_file(path: Path, today: date) -> list[PartnerRecord]:
    """A partner register saved by a spreadsheet (UTF-8, BOM or not); ``-`` is stdin."""
    text = read_text(path)
    try:
        return parse(text, today)
    except RegisterError as exc:
        raise RegisterError(f"{path} {exc}; nothing was imported") from None


def cells(record: PartnerRecord) -> dict[str, str]:
    def day(value: date | None) -> str:
        return value.isoformat() if value else ""

    return {"partner_id": record.partner_id, "name": record.name,
            "schools": " ".join(str(u) for u in record.schools),
            "columns": ";".join(KEY_HEADERS[k] for k in record.columns),
            "dsa_signed_on": day(record.dsa_signed_on),
            "dsa_review_on": day(record.dsa_review_on)}


def to_csv(records: Iterable[PartnerRecord]) -> str:
    """The columns import reads, ISO dates, one row per partner in id order."""
    out = io.StringIO(newline="")
    writer = csv.writer(out)
    writer.writerow(list(PARTNER_COLUMNS))
    for record in sorted(records, key=lambda r: r.partner_id):
        row = cells(record)
        writer.writerow([row[column] for column in PARTNER_COLUMNS])
    return out.getvalue()


__all__ = ["ALWAYS", "RegisterError", "cells", "parse", "read_file", "to_csv"]
