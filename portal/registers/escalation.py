"""The escalation list for the Education Board, and the register's other gaps.

Built from plain records by the rules in ``rules``; rendering is separate so the CLI and the
council's page show the same lines.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from portal.registers import rules
from portal.registers.record import SchoolRecord, Versions
from schemas.registers import (
    AGREEMENT_OUT_OF_DATE,
    CONTACT_STATUSES,
    ESCALATION_COLUMNS,
    NO_NAMED_DSL,
    PROTOCOL_OUT_OF_DATE,
    REQUIRES_ESCALATION,
)


@dataclass(frozen=True)
class Line:
    """One school on one list; ``since`` is the date the school came onto it, where known."""

    kind: str  # the list the school is on (the CSV's "list" column)
    urn: int
    name: str
    first_letter_on: date | None
    second_letter_on: date | None
    contact_status: str
    since: date | None
    detail: str

    def cells(self) -> list[str]:
        def day(value: date | None) -> str:
            return value.isoformat() if value else ""

        return [self.kind, str(self.urn), self.name, day(self.first_letter_on),
                day(self.second_letter_on), self.contact_status, day(self.since), self.detail]


def _line(kind: str, record: SchoolRecord, today: date, since: date | None,
          detail: str) -> Line:
    sent = rules.letters_sent(record, today)
    return Line(kind, record.urn, record.name, sent[0] if sent else None,
                sent[1] if len(sent) > 1 else None, record.contact_status, since, detail)


def _missing(record: SchoolRecord) -> str:
    parts = [name for name, signed in (("protocol", record.protocol_signed_on),
                                       ("agreement", record.agreement_signed_on)) if not signed]
    return " and ".join(parts) + " not returned"


def report(records: Iterable[SchoolRecord], today: date, versions: Versions,
           urns_with_dsl: Iterable[int] | None = None,
           run_schools: Mapping[int, str] | None = None) -> list[Line]:
    """Every school needing the council's action, grouped by list then URN.

    ``urns_with_dsl`` are the schools with at least one active named DSL; None leaves the
    "no named DSL" list out (the caller could not say). ``run_schools`` (URN to name) are the
    schools in the latest run: one with nobody named needs action too, on the register or not,
    as the council's schools page shows it ("nobody named").
    """
    records = sorted(records, key=lambda r: r.urn)
    lines: list[Line] = []
    for record in records:
        if rules.requires_escalation(record, today):
            second = rules.letters_sent(record, today)[1]
            lines.append(_line(REQUIRES_ESCALATION, record, today, second,
                               f"{_missing(record)} after two letters; "
                               f"{CONTACT_STATUSES[record.contact_status]}"))
    for record in records:
        problem = rules.protocol_problem(record, versions)
        if problem:
            lines.append(_line(PROTOCOL_OUT_OF_DATE, record, today, record.protocol_signed_on,
                               problem + "; the school cannot download"))
    for record in records:
        problems = rules.agreement_problems(record, today, versions)
        if problems:
            review = record.agreement_review_on
            since = review if review is not None and review < today else \
                record.agreement_signed_on
            lines.append(_line(AGREEMENT_OUT_OF_DATE, record, today, since,
                               "; ".join(problems)))
    if urns_with_dsl is not None:
        by_urn = {r.urn: r for r in records}
        others = {u: n for u, n in (run_schools or {}).items() if u not in by_urn}
        for urn in rules.without_named_dsl([*by_urn, *others], urns_with_dsl):
            if urn in by_urn:
                lines.append(_line(NO_NAMED_DSL, by_urn[urn], today, None,
                                   "nobody is named to receive the databook"))
            else:
                lines.append(Line(NO_NAMED_DSL, urn, others[urn], None, None, "", None,
                                  "nobody is named to receive the databook; in the latest "
                                  "run but not on the register"))
    return lines


def run_schools(manifest: Mapping[str, Any] | None) -> dict[int, str]:
    """URN to name of the schools in a run's manifest (none without a manifest)."""
    schools = (manifest or {}).get("schools", [])
    return {int(s["urn"]): str(s.get("name", "")) for s in schools}


def as_csv(lines: Sequence[Line]) -> str:
    out = io.StringIO(newline="")
    writer = csv.writer(out)
    writer.writerow(ESCALATION_COLUMNS)
    writer.writerows(line.cells() for line in lines)
    return out.getvalue()


def as_table(lines: Sequence[Line]) -> str:
    """Aligned columns for a terminal; the detail column last so it may run on."""
    if not lines:
        return "no school needs escalation, and no agreement is out of date\n"
    rows = [list(ESCALATION_COLUMNS), *(line.cells() for line in lines)]
    widths = [max(len(row[i]) for row in rows) for i in range(len(ESCALATION_COLUMNS) - 1)]
    return "".join("  ".join([*(c.ljust(w) for c, w in zip(row, widths, strict=False)),
                              row[-1]]).rstrip() + "\n" for row in rows)
