"""The worklist: one run's findings as rows for the people who correct records, in the order
to act on them, with what each means and how to fix it; as a terminal table, CSV or .xlsx.

The rows hold case-record ids and UPNs: they are written only where the officer asks (the
terminal, or a file they name), never logged.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any, TextIO

from databook.tables import csv_text, visible
from publish.xlsx import HEADER_STYLE, Sheet, Style, package
from quality import catalogue, history

COLUMNS = ("status", "person_id", "record", "table", "upn", "rule", "meaning", "how_to_fix",
           "first_seen", "nights_open", "accepted_reason")
HEADINGS = ("Status", "Person id", "Record id", "Table", "UPN", "Rule", "What it means",
            "How to fix it (Mosaic)", "First seen", "Nights open", "Why accepted")
_STATUS_ORDER = {history.NEW: 0, history.PERSISTING: 1, history.ACCEPTED: 2,
                 history.RESOLVED: 3}


def rows(found: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The findings as worklist rows: by group (act first), rule, status, then id."""
    out = []
    for f in found:
        e = catalogue.ENTRIES.get(f["rule"])
        out.append({"status": f["status"], "person_id": f["person_id"], "record": f["record"],
                    "table": f["table"], "upn": f["upn"], "rule": f["rule"],
                    "meaning": e.meaning if e else "", "how_to_fix": e.fix if e else "",
                    "first_seen": f["first_seen"], "nights_open": f["nights_open"],
                    "accepted_reason": f.get("accepted_reason")})
    out.sort(key=lambda r: (catalogue.group_order(r["rule"]), r["rule"],
                            _STATUS_ORDER.get(r["status"], 9), r["table"],
                            _numeric_first(r["record"])))
    return out


def _numeric_first(record: str) -> tuple[int, int, str]:
    return (0, int(record), "") if record.isdigit() else (1, 0, record)


def write_table(items: Sequence[dict[str, Any]], out: TextIO) -> None:
    """For the terminal: a heading per rule (what it means, how to fix it), then its rows."""
    if not items:
        print("(none)", file=out)
        return
    current = None
    for r in items:
        if r["rule"] != current:
            current = r["rule"]
            n = sum(1 for x in items if x["rule"] == current)
            print(f"\n{current} ({n}): {r['meaning']}\n  How to fix: {r['how_to_fix']}",
                  file=out)
            print(f"  {'status':<10} {'person id':>10} {'record':>12} {'first seen':<10} "
                  f"{'nights':>6}  table / UPN", file=out)
        extra = " / ".join(visible(v) for v in (r["table"], r["upn"]) if v)
        if r["accepted_reason"]:
            extra += f"  (accepted: {visible(r['accepted_reason'])})"
        print(f"  {r['status']:<10} {visible(r['person_id']):>10} {visible(r['record']):>12} "
              f"{visible(r['first_seen']):<10} {r['nights_open']:>6}  {extra}", file=out)


def csv(items: Sequence[dict[str, Any]]) -> str:
    return csv_text([{c: r[c] for c in COLUMNS} for r in items], COLUMNS)


def xlsx(items: Sequence[dict[str, Any]], title: str) -> bytes:
    """A workbook with a frozen, filtered header: one row per finding, every cell text or a
    date (``publish.xlsx``: nothing can become a formula)."""
    sheet = Sheet("Worklist", widths={1: 11, 2: 11, 3: 13, 4: 26, 5: 15, 6: 24, 7: 50, 8: 60,
                                      9: 11, 10: 8, 11: 30},
                  freeze_header=True, filter_columns=len(COLUMNS))
    sheet.append(list(HEADINGS), HEADER_STYLE)
    wrap = Style(wrap=True)
    for r in items:
        values: list[str | date | None] = []
        for c in COLUMNS:
            v = r[c]
            values.append(v if isinstance(v, date) or v is None else str(v))
        sheet.append(values, wrap)
    about = Sheet("About", widths={1: 100})
    about.append([title], HEADER_STYLE)
    about.append(["Each row is one finding of the run: fix it in the case system (Mosaic) or "
                  "the education system as the row says; it shows as resolved after the next "
                  "run that no longer finds it."])
    return package([sheet, about], "yyyy-mm-dd")


__all__ = ["COLUMNS", "csv", "rows", "write_table", "xlsx"]
