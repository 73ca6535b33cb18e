"""Partners' databooks: for each partner with a current data-sharing agreement, one workbook
holding exactly the union of its schools' children, only its agreed columns.

A partner's rows are the schools' published rows, never computed afresh: the same child gets
the same values a school sees, narrowed to the agreement's columns, with the school's URN and
name in front (a child on two of its schools' rolls is one row naming both). The narrowing
happens here, before anything is rendered: a column outside the agreement is blanked in the
row itself, so neither the Databook sheet nor the Changes sheet (computed from these rows) nor
the digest can carry it.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date
from typing import TYPE_CHECKING

import pandas as pd

from publish.changes_sheet import about_lines, changes_sheet
from publish.encrypt import SchoolKey, encrypt
from publish.workbook import BOLD, HEADER_STYLE, WRAP, RunInfo, Value, refuse_formulas
from publish.xlsx import PLAIN, Sheet, package
from schemas.changes import CHANGE_COLUMNS, SHEET_CHANGES
from schemas.databook import COLUMNS, DATE_FORMAT, KEYS, SHEET_ABOUT, SHEET_DATABOOK
from schemas.partners import SCHOOL_COLUMNS, PartnerRecord, agreement_current
from transform.row_changes import normalise

if TYPE_CHECKING:
    from publish.keystore import Keystore
    from transform.row_changes import SchoolChanges

Row = tuple[Value, ...]
DIGEST_CONTEXT = b"safeguarding-databook partner rows v1\n"
UNIT, RECORD = "\x1f", "\x1e"
DAY = "%d/%m/%Y"
FIRST_PARTNER_DATABOOK = ("This is your organisation's first databook: there is no earlier one "
                          "to compare it with.")
NOTICE = (
    "CONFIDENTIAL. This databook is for the named staff of {partner} only, under its "
    "data-sharing agreement with the council. Do not print it, forward it or copy its "
    "contents into other systems. It shows a very limited view of children's social care "
    "records for pupils of the schools your agreement covers. For anything more, contact "
    "{starting_point} on {phone}."
)


@dataclass(frozen=True)
class PartnerFile:
    partner: PartnerRecord
    #: Full schema-width rows (``schemas.databook.KEYS``) with every column outside the
    #: agreement blank: what the partner may see, in a shape the Changes code already reads.
    rows: tuple[Row, ...]
    #: Per row: the school URN(s) and name(s) whose roll put the child in the cohort.
    schools: tuple[tuple[str, str], ...]
    key: SchoolKey | str
    person_ids: tuple[int, ...] = ()
    changes: SchoolChanges | None = None
    rows_digest: str = ""
    updated_at: str = ""

    @property
    def file_name(self) -> str:
        return file_name(self.partner.partner_id)


def file_name(partner_id: str) -> str:
    """Never a URN's shape, so it cannot collide with a school's ``<URN>.xlsx``."""
    return f"partner-{partner_id}.xlsx"


def split(records: Iterable[PartnerRecord], as_at: date
          ) -> tuple[list[PartnerRecord], list[PartnerRecord]]:
    """(partners with a current agreement, partners whose agreement is not current)."""
    current: list[PartnerRecord] = []
    lapsed: list[PartnerRecord] = []
    for record in sorted(records, key=lambda r: r.partner_id):
        (current if agreement_current(record, as_at) else lapsed).append(record)
    return current, lapsed


def mask(row: Sequence[Value], columns: Sequence[str]) -> Row:
    """The row with every column outside ``columns`` blank."""
    keep = set(columns)
    return tuple(v if k in keep else None for k, v in zip(KEYS, row, strict=True))


def partner_files(plain: Sequence[Sequence[Value]], urns: Sequence[int],
                  person_ids: Sequence[int], school_names: Mapping[int, str],
                  partners: Sequence[PartnerRecord],
                  keys: Mapping[str, SchoolKey | str]) -> list[PartnerFile]:
    """One file per partner from the county's published rows (``plain``, aligned with
    ``urns`` and ``person_ids``): each child of its schools once, in the rows' order."""
    by_school: dict[int, list[int]] = {}
    for i, urn in enumerate(urns):
        by_school.setdefault(int(urn), []).append(i)
    out = []
    for partner in partners:
        first: dict[int, int] = {}
        where: dict[int, list[int]] = {}
        for urn in partner.schools:
            for i in by_school.get(urn, []):
                person = int(person_ids[i])
                first.setdefault(person, i)
                where.setdefault(person, []).append(urn)
        order = sorted(first, key=lambda p: first[p])
        rows = tuple(mask(plain[first[p]], partner.columns) for p in order)
        cells = tuple((" ".join(str(u) for u in sorted(set(where[p]))),
                       "; ".join(school_names.get(u, "") for u in sorted(set(where[p]))))
                      for p in order)
        out.append(PartnerFile(partner, rows, cells, keys[partner.partner_id], tuple(order)))
    return out


def from_frames(rows: pd.DataFrame, schools: pd.DataFrame, partners: Sequence[PartnerRecord],
                keys: Mapping[str, SchoolKey | str]) -> list[PartnerFile]:
    """``partner_files`` from the transform's frames (only the cohorts' rows converted)."""
    from publish.drop import plain_rows  # publish.drop imports this module: a cycle otherwise

    cohort = sorted({u for p in partners for u in p.schools})
    mine = rows[rows["urn"].astype(int).isin(cohort)]
    names = {int(u): str(n) for u, n in zip(schools["urn"], schools["name"].fillna(""),
                                            strict=True)}
    return partner_files(plain_rows(mine), mine["urn"].astype(int).tolist(),
                         mine["person_id"].astype(int).tolist(), names, partners, keys)


def digest(item: PartnerFile, key: bytes) -> str:
    """A keyed digest of what the partner's file shows (rows, schools, agreed columns),
    independent of row order: equal digests mean the same Databook sheet."""
    def text(value: object) -> str:
        value = normalise(value)
        return "" if value is None else value.isoformat() if isinstance(value, date) else value

    lines = sorted(UNIT.join([urns, names, *(text(v) for v in row)])
                   for row, (urns, names) in zip(item.rows, item.schools, strict=True))
    mac = hmac.new(key, DIGEST_CONTEXT, hashlib.sha256)
    partner = item.partner  # what the About sheet shows counts too
    mac.update(UNIT.join([partner.name, str(partner.dsa_signed_on), str(partner.dsa_review_on),
                          " ".join(map(str, partner.schools)), ";".join(partner.columns)])
               .encode() + RECORD.encode())
    for line in lines:
        mac.update(line.encode() + RECORD.encode())
    return mac.hexdigest()


def _databook_sheet(item: PartnerFile) -> Sheet:
    shown = [c for c in COLUMNS if c.key in item.partner.columns]
    columns = [*SCHOOL_COLUMNS, *shown]
    index = [KEYS.index(c.key) for c in shown]
    ws = Sheet(SHEET_DATABOOK, {i: max(c.width, 12) for i, c in enumerate(columns, start=1)},
               freeze_header=True, filter_columns=len(columns))
    ws.append([c.header for c in columns], HEADER_STYLE)
    for row, (urns, names) in zip(item.rows, item.schools, strict=True):
        ws.append([urns, names, *(row[i] for i in index)])
    return ws


def _about_sheet(item: PartnerFile, run: RunInfo, more: Sequence[tuple[str, str]]) -> Sheet:
    ws = Sheet(SHEET_ABOUT, {1: 32, 2: 100})
    partner = item.partner

    def line(label: str, value: Value = None, *, strong: bool = False) -> None:
        if value is None:
            ws.append([label], BOLD if strong else PLAIN)
        else:
            ws.append([label, value], (BOLD, WRAP if isinstance(value, str) else PLAIN))

    signed = partner.dsa_signed_on.strftime(DAY) if partner.dsa_signed_on else ""
    review = partner.dsa_review_on.strftime(DAY) if partner.dsa_review_on else ""
    line("Safeguarding databook (partner)", strong=True)
    line("Protective marking", run.marking)
    line("Partner", partner.name)
    line("Partner id", partner.partner_id)
    line("Data-sharing agreement", f"This databook rests on your data-sharing agreement "
                                   f"signed on {signed}, to be reviewed by {review}. It holds "
                                   "only the columns that agreement names.")
    line("Schools covered", " ".join(str(u) for u in partner.schools))
    line("Data as at", run.as_at)
    line("Extracted at", run.extracted_at.strftime("%d/%m/%Y %H:%M %Z").strip())
    line("Run", run.run_id)
    line("In this databook", f"{len(item.rows)} pupil(s) of these schools are known to "
                             "children's social care." if item.rows else
                             "No pupils of these schools are known to children's social care "
                             "on this date.")
    ws.append([])
    line("Notice", NOTICE.format(partner=partner.name, starting_point=run.starting_point_name,
                                 phone=run.starting_point_phone))
    line("Contact", f"{run.starting_point_name}: {run.starting_point_phone}")
    for label, text in more:
        line(label, text)
    ws.append([])
    line("What each column means", strong=True)
    for column in [*SCHOOL_COLUMNS, *(c for c in COLUMNS if c.key in partner.columns)]:
        line(column.header, column.meaning)
    return ws


def _changes_sheet(changes: SchoolChanges) -> Sheet:
    """The school's Changes sheet, in a partner's words when it lists nothing."""
    if changes.changes or changes.previous is not None:
        return changes_sheet(changes)
    ws = Sheet(SHEET_CHANGES, {i: c.width for i, c in enumerate(CHANGE_COLUMNS, start=1)},
               freeze_header=True)
    ws.append([c.header for c in CHANGE_COLUMNS], HEADER_STYLE)
    ws.append([FIRST_PARTNER_DATABOOK])
    return ws


def _about_changes(changes: SchoolChanges) -> list[tuple[str, str]]:
    return [(label, text.replace("your school's", "your")
             .replace("Nothing: this is your first databook.", FIRST_PARTNER_DATABOOK))
            for label, text in about_lines(changes)]


def render(item: PartnerFile, run: RunInfo) -> bytes:
    """Databook (school columns, then the agreed ones), Changes when given, then About."""
    allowed = set(item.partner.columns)
    for row in item.rows:
        if len(row) != len(KEYS) or any(v is not None and k not in allowed
                                        for k, v in zip(KEYS, row, strict=True)):
            raise ValueError("a partner row holds a column outside its agreement")
    sheets = [_databook_sheet(item)]
    more: list[tuple[str, str]] = []
    if item.changes is not None:
        sheets.append(_changes_sheet(item.changes))
        more = _about_changes(item.changes)
    sheets.append(_about_sheet(item, run, more))
    xlsx = package(sheets, DATE_FORMAT, marking=run.marking,
                   title=f"Safeguarding databook: {item.partner.name}")
    refuse_formulas(xlsx)
    return xlsx


def render_encrypted(item: PartnerFile, run: RunInfo) -> tuple[str, bytes]:
    return item.file_name, encrypt(render(item, run), item.key)


def manifest_entry(item: PartnerFile, data: bytes, members: Sequence[str],
                   updated_at: str) -> dict[str, object]:
    """The partner's entry in the manifest's ``partners`` section: as a school's (file, size,
    SHA-256, pseudonymous members, digest), plus the agreement it rests on."""
    partner = item.partner
    return {"partner_id": partner.partner_id, "name": partner.name, "file": item.file_name,
            "bytes": len(data), "sha256": hashlib.sha256(data).hexdigest(),
            "children": len(item.rows), "members": sorted(members),
            "schools": list(partner.schools), "columns": list(partner.columns),
            "dsa_signed_on": partner.dsa_signed_on.isoformat() if partner.dsa_signed_on else "",
            "dsa_review_on": partner.dsa_review_on.isoformat() if partner.dsa_review_on else "",
            "rows_digest": item.rows_digest, "updated_at": updated_at}


def under_current_keys(items: Sequence[PartnerFile], run: RunInfo,
                       keystore: Keystore | None) -> Iterator[tuple[str, bytes]]:
    """Each partner's file, rendered and encrypted while the run is written (the keystore held
    still), under the partner's key as the keystore holds it then: a ``keys rotate --partner``
    that came first is never undone by a run that started before it."""
    for item in items:
        current = (keystore.current_partner_key(item.partner.partner_id)
                   if keystore is not None and isinstance(item.key, SchoolKey) else None)
        yield render_encrypted(item if current is None else replace(item, key=current), run)
