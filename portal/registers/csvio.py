"""Read and write the register as CSV, the way councils already keep it in spreadsheets.

Import is all or nothing: every row is checked before anything is written, and the first bad
row is named by line and column. Error messages quote a value only from a structured column
(a date, a URN, a version, a code), never from free text, which could hold anything.
"""

from __future__ import annotations

import csv
import io
import re
import sys
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import TypeVar

from portal.registers.record import SchoolRecord
from portal.registers.rules import VERSION
from schemas.registers import (
    CONTACT_STATUSES,
    FORMULA_STARTS,
    NO_CONTACT,
    REGISTER_COLUMNS,
    TEXT_COLUMNS,
)

URN = re.compile(r"^\d{6}$")
MAX_LENGTH = {"name": 200, "protocol_signatory_title": 100, "protocol_minute_ref": 100,
              "note": 2000}
MAX_ROWS = 100_000


R = TypeVar("R")


class RegisterError(Exception):
    """The register file cannot be imported; str() is one safe line naming line and column."""


@dataclass(frozen=True)
class _Cell:
    line: int
    column: str
    value: str

    def fail(self, why: str, quote: bool = True) -> RegisterError:
        shown = (f" {self.value[:40]!r}" if quote and self.value
                 and self.column not in TEXT_COLUMNS else "")
        return RegisterError(f"line {self.line}, column {self.column}:{shown} {why}")


def _date(cell: _Cell, today: date, past_only: bool) -> date | None:
    """ISO dates, or the UK day/month/year a spreadsheet saves; nothing ambiguous."""
    if not cell.value:
        return None
    for fmt in ("%Y-%m-%d", "%d/%m/%Y"):
        try:
            parsed = datetime.strptime(cell.value, fmt).date()
            break
        except ValueError:
            continue
    else:
        raise cell.fail("is not a date (YYYY-MM-DD or DD/MM/YYYY)")
    if past_only and parsed > today:
        raise cell.fail("is in the future")
    return parsed


def _text(cell: _Cell) -> str:
    if cell.value.startswith(FORMULA_STARTS):
        raise cell.fail("starts with = + - @ or a control character, which a spreadsheet "
                        "would run as a formula")
    if len(cell.value) > MAX_LENGTH[cell.column]:
        raise cell.fail(f"is longer than {MAX_LENGTH[cell.column]} characters")
    if any(ord(ch) < 32 and ch != "\n" for ch in cell.value):
        raise cell.fail("holds a control character")
    return cell.value


def _version(cell: _Cell) -> str:
    if cell.value and not VERSION.match(cell.value):
        raise cell.fail("is not a version like 1.0")
    return cell.value


def _row(line: int, raw: Mapping[str, str], today: date) -> SchoolRecord:
    """One checked record, or the first problem with the row."""
    def cell(column: str) -> _Cell:
        return _Cell(line, column, (raw.get(column) or "").strip())

    urn = cell("urn")
    if not URN.match(urn.value):
        raise urn.fail("is not a six-digit URN")
    name = _text(cell("name"))
    if not name:
        raise cell("name").fail("is empty")
    protocol_on = _date(cell("protocol_signed_on"), today, past_only=True)
    title = _text(cell("protocol_signatory_title"))
    minute = _text(cell("protocol_minute_ref"))
    protocol_version = _version(cell("protocol_version"))
    if protocol_on is not None:
        for column, value in (("protocol_signatory_title", title),
                              ("protocol_version", protocol_version)):
            if not value:
                raise cell(column).fail("is needed when the protocol is signed")
    elif title or minute or protocol_version:
        raise cell("protocol_signed_on").fail("is empty, but the protocol has a signatory, "
                                              "minute or version")
    agreement_on = _date(cell("agreement_signed_on"), today, past_only=True)
    agreement_version = _version(cell("agreement_version"))
    review_on = _date(cell("agreement_review_on"), today, past_only=False)
    if agreement_on is not None:
        if not agreement_version:
            raise cell("agreement_version").fail("is needed when the agreement is signed")
        if review_on is None:
            raise cell("agreement_review_on").fail("is needed when the agreement is signed")
        if review_on <= agreement_on:
            raise cell("agreement_review_on").fail("is not after the signing date")
    elif agreement_version or review_on:
        raise cell("agreement_signed_on").fail("is empty, but the agreement has a version or "
                                               "review date")
    letters = cell("letters")
    sent = []
    for part in letters.value.split(";") if letters.value else []:
        one = _date(_Cell(line, "letters", part.strip()), today, past_only=True)
        if one is None:
            raise letters.fail("has an empty date between ';'")
        sent.append(one)
    if len(set(sent)) != len(sent):
        raise letters.fail("lists the same date twice")
    status = cell("contact_status")
    if status.value and status.value not in CONTACT_STATUSES:
        raise status.fail(f"is not one of {', '.join(CONTACT_STATUSES)}")
    return SchoolRecord(
        urn=int(urn.value), name=name, protocol_signed_on=protocol_on,
        protocol_signatory_title=title, protocol_minute_ref=minute,
        protocol_version=protocol_version, agreement_signed_on=agreement_on,
        agreement_version=agreement_version, agreement_review_on=review_on,
        letters=tuple(sorted(sent)), contact_status=status.value or NO_CONTACT,
        note=_text(cell("note")))


def parse_rows(text: str, columns: Mapping[str, str], what: str,
               row: Callable[[int, dict[str, str]], R], key: Callable[[R], tuple[str, object]],
               limit: int = MAX_ROWS) -> list[R]:
    """A register CSV (``columns``: name -> meaning), every row checked by ``row(line, cells)``
    before anything is imported; the first bad one raises, naming its line (1 is the header).
    ``key`` gives each record's (column, value) that must not repeat; ``what`` names the
    records ("schools", "partners"). One reader for both registers, so they refuse alike."""
    reader = csv.DictReader(io.StringIO(text, newline=""), strict=True)
    try:
        header = reader.fieldnames
    except csv.Error as exc:
        raise RegisterError(f"line 1: not a CSV file ({exc})") from None
    if not header:
        raise RegisterError("the file is empty: line 1 must be the header")
    found = [c.strip() for c in header]
    unknown = [c for c in found if c not in columns]
    missing = [c for c in columns if c not in found]
    if unknown or missing or len(set(found)) != len(found):
        detail = (f"unknown column {unknown[0]!r}" if unknown else
                  f"missing column {missing[0]!r}" if missing else "a column appears twice")
        raise RegisterError(f"line 1: {detail}; the columns are {', '.join(columns)}")
    reader.fieldnames = found
    records: list[R] = []
    seen: dict[object, int] = {}
    line = reader.line_num
    try:
        for raw in reader:
            start, line = line + 1, reader.line_num
            if None in raw:
                raise RegisterError(f"line {start}: more cells than columns")
            if not any((v or "").strip() for v in raw.values()):
                continue  # a spreadsheet's trailing empty row
            record = row(start, raw)
            column, value = key(record)
            folded = value.lower() if isinstance(value, str) else value
            if folded in seen:
                shown = repr(value) if isinstance(value, str) else value
                raise RegisterError(f"line {start}, column {column}: {shown} is also on line "
                                    f"{seen[folded]}")
            seen[folded] = start
            records.append(record)
            if len(records) > limit:
                raise RegisterError(f"more than {limit} {what}: is this the register?")
    except csv.Error as exc:
        raise RegisterError(f"line {line + 1}: not valid CSV ({exc})") from None
    if not records:
        raise RegisterError(f"the file has a header but no {what}")
    return records


def parse(text: str, today: date) -> list[SchoolRecord]:
    """Every row checked; the first bad one raises, naming its line (1 is the header)."""
    return parse_rows(text, REGISTER_COLUMNS, "schools", lambda line, raw: _row(line, raw, today),
                      lambda record: ("urn", record.urn))


def read_text(path: Path) -> str:
    """A register file saved by a spreadsheet (UTF-8, with or without Excel's BOM); ``-``
    reads standard input, so ``schools demo-register | schools import -`` works."""
    try:
        raw = sys.stdin.buffer.read() if str(path) == "-" else path.read_bytes()
        return raw.decode("utf-8-sig")
    except OSError as exc:
        raise RegisterError(f"cannot read {path}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise RegisterError(f"{path} is not UTF-8 text: save it as 'CSV UTF-8'") from None


def read_file(path: Path, today: date) -> list[SchoolRecord]:
    text = read_text(path)
    try:
        return parse(text, today)
    except RegisterError as exc:
        raise RegisterError(f"{path} {exc}; nothing was imported") from None


def cells(record: SchoolRecord) -> dict[str, str]:
    """One record as the CSV's cells, keyed by column."""
    def day(value: date | None) -> str:
        return value.isoformat() if value else ""

    return {"urn": str(record.urn), "name": record.name,
            "protocol_signed_on": day(record.protocol_signed_on),
            "protocol_signatory_title": record.protocol_signatory_title,
            "protocol_minute_ref": record.protocol_minute_ref,
            "protocol_version": record.protocol_version,
            "agreement_signed_on": day(record.agreement_signed_on),
            "agreement_version": record.agreement_version,
            "agreement_review_on": day(record.agreement_review_on),
            "letters": ";".join(d.isoformat() for d in record.letters),
            "contact_status": record.contact_status, "note": record.note}


def to_csv(records: Iterable[SchoolRecord]) -> str:
    """The same columns import reads, ISO dates, one row per school in URN order."""
    out = io.StringIO(newline="")
    writer = csv.writer(out)
    writer.writerow(list(REGISTER_COLUMNS))
    for record in sorted(records, key=lambda r: r.urn):
        row = cells(record)
        writer.writerow([row[column] for column in REGISTER_COLUMNS])
    return out.getvalue()
