"""Tables and CSV for people and spreadsheets, guarded.

Every report the council prints or downloads can hold text that somebody else typed (an email
address, a DSL's reason): a CSV cell starting ``=``, ``+``, ``-`` or ``@`` would run as a formula
when the file is opened in a spreadsheet, and a control character or a bidirectional override
would rewrite what the officer's terminal or page shows. Both are neutralised here, once, for
the commands of both hosts and the portal's council pages.
"""

from __future__ import annotations

import csv
import io
import sys
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, TextIO

from databook.plain_text import neutral

#: A spreadsheet runs a cell starting with one of these as a formula.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def visible(value: object) -> str:
    """Text safe to show on a terminal or a page: every control or direction character shown
    as ``<U+XXXX>`` (``databook.plain_text``), never obeyed."""
    return "" if value is None else neutral(str(value))


def cell(value: object) -> str:
    """A CSV cell a spreadsheet shows as text: one starting like a formula gets a leading
    apostrophe."""
    text = visible(value)
    if isinstance(value, str) and text.startswith(FORMULA_STARTS):
        return "'" + text
    return text


def columns_of(rows: Sequence[Mapping[str, Any]], first: Iterable[str] = ()) -> list[str]:
    """The union of the rows' keys, in order, after ``first``."""
    header = list(first)
    for row in rows:
        header += [c for c in row if c not in header]
    return header


def csv_text(rows: Sequence[Mapping[str, Any]], columns: Iterable[str] = ()) -> str:
    header = columns_of(rows, columns)
    out = io.StringIO(newline="")
    writer = csv.writer(out)
    writer.writerow(header)
    writer.writerows([cell(row.get(c)) for c in header] for row in rows)
    return out.getvalue()


def print_rows(rows: Sequence[Mapping[str, Any]], fmt: str = "table",
               out: TextIO | None = None) -> None:
    """Rows as CSV, or as an aligned plain-text table ("(none)" when there are none)."""
    out = out or sys.stdout
    if fmt == "csv":
        out.write(csv_text(rows))
        return
    if not rows:
        print("(none)", file=out)
        return
    header = columns_of(rows)
    shown = [{c: visible(row.get(c, "")) for c in header} for row in rows]
    widths = {c: max(len(c), *(len(r[c]) for r in shown)) for c in header}
    print("  ".join(c.ljust(widths[c]) for c in header).rstrip(), file=out)
    for row in shown:
        print("  ".join(row[c].ljust(widths[c]) for c in header).rstrip(), file=out)
