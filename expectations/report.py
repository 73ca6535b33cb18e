"""The data-quality page a data-quality officer opens in a browser after every run.

It identifies people by case person id and UPN only, and links to the Great Expectations Data
Docs for the detail of each suite.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from html import escape
from pathlib import Path
from typing import Any

import pandas as pd

from databook.fsio import write_file
from transform.findings import RULES

REPORT_FILE = "report.html"
MAX_FINDING_ROWS = 5000
STYLE = """body{font-family:system-ui,sans-serif;margin:2rem;max-width:70rem;color:#1b1b1b}
.status{display:inline-block;padding:.3rem .8rem;border-radius:.3rem;font-weight:bold}
.published{background:#d7f0dc}.blocked{background:#ffd9a8}.failed{background:#f8c4c4}
table{border-collapse:collapse;margin:.5rem 0 1.5rem}td,th{border:1px solid #ccc;
padding:.25rem .5rem;text-align:left}th{background:#eef3f8}code{font-size:.95em}"""


def _table(headers: list[str], rows: list[list[object]]) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{escape(_text(v))}</td>" for v in row) + "</tr>"
                   for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _text(value: object) -> str:
    return "" if value is None or value is pd.NA or value != value else str(value)


def render(record: Mapping[str, Any], findings: pd.DataFrame | None,
           data_docs: Path | None, folder: Path) -> str:
    status = str(record.get("status", "failed"))
    v = record.get("validation") or {}
    parts = [f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>Data quality: "
             f"run {escape(str(record['run_id']))}</title><style>{STYLE}</style></head><body>",
             f"<h1>Data quality report</h1><p>Run <code>{escape(str(record['run_id']))}</code>, "
             f"as at {escape(str(record.get('as_at')))}</p>",
             f"<p id='status' class='status {escape(status)}'>Status: {escape(status)}</p>"]
    if record.get("error"):
        parts.append(f"<p id='reason'>{escape(str(record['error']))}</p>")
    parts.append("<h2>Blocking expectations that failed</h2>")
    failed = v.get("blocking_failures", [])
    parts.append(_list(failed, "none") if v else "<p>Validation did not run.</p>")
    parts.append("<h2>Warnings</h2>" + _list(v.get("warnings", []), "none"))
    parts.append("<h2>Drift since the last published run</h2>"
                 + _list(v.get("drift", []), "none"))
    if v.get("accepted_drift"):
        parts.append(f"<p>Drift accepted: {escape(str(v['accepted_drift']))}</p>")
    partners = record.get("partners") or {}
    if partners.get("published") or partners.get("lapsed") or partners.get("note"):
        parts.append(_partners(partners))
    if data_docs is not None:
        link = os.path.relpath(data_docs, folder)
        parts.append(f"<p><a id='data-docs' href='{escape(link)}'>Great Expectations Data Docs"
                     "</a>: every expectation, suite by suite.</p>")
    parts.append("<h2>Findings that need a person</h2>")
    if findings is None or findings.empty:
        parts.append("<p>None.</p>")
    else:
        counts = findings["rule"].value_counts().sort_index()
        parts.append(_table(["finding", "count", "what it means"],
                            [[r, n, RULES.get(str(r), "")] for r, n in counts.items()]))
        shown = findings.head(MAX_FINDING_ROWS)
        parts.append(_table(list(shown.columns), shown.astype(object).values.tolist()))
        if len(findings) > MAX_FINDING_ROWS:
            parts.append(f"<p>{len(findings) - MAX_FINDING_ROWS} more in findings.csv.</p>")
    parts.append("</body></html>")
    return "\n".join(parts)


def _partners(partners: Mapping[str, Any]) -> str:
    """Which partners this run published for, and which got nothing and why (a lapsed or
    unsigned data-sharing agreement): the officer's cue to chase the agreement."""
    html = "<h2 id='partners'>Partners</h2>"
    if partners.get("note"):
        html += f"<p>{escape(str(partners['note']))}</p>"
    published = [str(p) for p in partners.get("published", [])]
    html += f"<p>Published for: {escape(', '.join(published) or 'none')}</p>"
    lapsed = partners.get("lapsed", [])
    if lapsed:
        html += ("<p>Nothing published for these partners:</p>"
                 + _table(["partner", "why"], [[p["partner_id"], p["reason"]] for p in lapsed]))
    return html


def _list(items: list[str], empty: str) -> str:
    if not items:
        return f"<p>{escape(empty)}</p>"
    return "<ul class='checks'>" + "".join(f"<li><code>{escape(i)}</code></li>"
                                           for i in items) + "</ul>"


def write(folder: Path, record: Mapping[str, Any], findings: pd.DataFrame | None,
          data_docs: Path | None) -> Path:
    path = folder / REPORT_FILE
    write_file(path, render(record, findings, data_docs, folder).encode())
    return path
