"""The run's data-quality report (``report.html``), for the data-quality officer who opens it
every morning: tonight's headline, the findings grouped by what to act on first, warnings in
plain English, and trends over the last runs, with Great Expectations' Data Docs one link away.

It names people by case person id, record id and UPN only (like ``findings.csv``), and stays in
the run's folder on the nightly host. One self-contained page: no script, no external file;
it reflows down to 320 px wide and prints.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from html import escape
from pathlib import Path
from typing import Any

import pandas as pd
from sqlalchemy import Engine

from databook.fsio import write_file
from quality import catalogue, history
from quality.charts import Trend, figure, top_series
from transform.findings import BLOCKING

REPORT_FILE = "report.html"
#: Runs the trend charts cover.
TREND_RUNS = 30
#: Example ids shown per rule or warning, and new findings listed in full on the page.
EXAMPLES, MAX_LISTED = 5, 200
INDICATORS = {"children": "Children", "rows": "Rows (child at a school)", "schools": "Schools",
              "cp_current": "On a child protection plan", "lac_current": "Looked after",
              "cin_current": "Child in need", "dv_notification": "Domestic abuse notification",
              "cautions": "With a caution"}

STYLE = """
*{box-sizing:border-box}
body{font-family:system-ui,-apple-system,"Segoe UI",Arial,sans-serif;margin:0 auto;
padding:1rem;max-width:72rem;color:#0b0c0c;line-height:1.45}
p,li,code,dd{overflow-wrap:anywhere}
h1{font-size:1.75rem;margin:.5rem 0}h2{font-size:1.35rem;margin-top:2rem;
border-top:2px solid #b1b4b6;padding-top:.75rem}h3{font-size:1.1rem}
a{color:#1d4f91}a:focus,[tabindex]:focus{outline:3px solid #ffdd00;outline-offset:0}
.status{display:inline-block;padding:.2rem .6rem;border:2px solid #0b0c0c;font-weight:bold}
.published,.unchanged{background:#cce2d8}.blocked{background:#fff2cc}.failed{background:#f4cdc6}
.headline{display:flex;flex-wrap:wrap;gap:.5rem;padding:0;list-style:none}
.headline li{flex:1 1 8rem;border:2px solid #b1b4b6;padding:.5rem .75rem}
.headline .n{display:block;font-size:1.9rem;font-weight:bold}
.headline .blocking{border-color:#d4351c}
.table-wrap{max-width:100%;overflow-x:auto;margin:.5rem 0 1rem}
table{border-collapse:collapse}caption{text-align:left;font-weight:bold;padding:.25rem 0}
td,th{border:1px solid #b1b4b6;padding:.25rem .5rem;text-align:left;vertical-align:top}
thead th{background:#f3f2f1}td.num{text-align:right;font-variant-numeric:tabular-nums;
white-space:nowrap}th[scope=row]{white-space:nowrap;font-weight:normal}
.rule{border-left:5px solid #1d70b8;padding:.25rem 0 .25rem .75rem;margin:0 0 1rem}
.rule.blocks{border-left-color:#d4351c}.rule h4{margin:.25rem 0;font-size:1rem}
.rule p{margin:.25rem 0}.counts{font-weight:bold}
code{font-size:.95em}.trend-body{display:flex;flex-wrap:wrap;gap:1rem;align-items:flex-start}
.trend figure{flex:1 1 22rem;margin:0;min-width:0}.trend .table-wrap{flex:1 1 22rem}
svg.chart{width:100%;height:auto;border:1px solid #b1b4b6}
figcaption{font-size:.9rem;color:#0b0c0c}.muted{color:#505a5f}
@media print{body{max-width:none;padding:0;font-size:10pt}
.table-wrap{overflow:visible}table{width:100%;font-size:8pt}
td,th,td.num,th[scope=row]{overflow-wrap:anywhere;white-space:normal}
a{color:#0b0c0c}a[href]:after{content:" (" attr(href) ")"}
section,figure,tr{break-inside:avoid}h2{break-after:avoid}}
"""


@dataclass
class Tonight:
    """What the history says about one run: its findings with their status, and trends."""

    tally: history.RunTally
    rows: list[dict[str, Any]]
    trends: list[Trend] = field(default_factory=list)


def from_history(engine: Engine, run_id: str, last: int = TREND_RUNS) -> Tonight:
    """Tonight's findings and the last ``last`` runs' trends, from the database of runs."""
    with engine.connect() as conn:
        run = history.find_run(conn, run_id)
        rows = history.run_findings(conn, run)
        recent = history.recent_runs(conn, last, up_to=run.seq)
        numbers = history.run_counts(conn, [r.seq for r in recent])
        result = history.tally(conn, run.seq)
    labels = [f"{r.run_date.isoformat()} {r.run_id[9:15]}" for r in recent]

    def of(kind: str) -> list[dict[str, int]]:
        return [numbers[r.seq].get(kind, {}) for r in recent]

    indicators = [{INDICATORS.get(k, k): v for k, v in m.items() if k in INDICATORS}
                  for m in of(history.INDICATOR)]
    trends = [
        Trend("trend-rules", "Findings by rule", labels,
              top_series(labels, of(history.RULE), "other rules")),
        Trend("trend-tables", "Source rows by table", labels,
              top_series(labels, of(history.TABLE), "other tables")),
        Trend("trend-indicators", "Children per indicator", labels,
              top_series(labels, indicators, "others")),
    ]
    return Tonight(result, rows, trends)


def _table(headers: Sequence[str], rows: Sequence[Sequence[object]], caption: str,
           numeric: Sequence[int] = ()) -> str:
    head = "".join(f"<th scope='col'>{escape(h)}</th>" for h in headers)
    body = "".join(
        "<tr>" + "".join(
            f"<td{' class=num' if i in numeric else ''}>{escape(_text(v))}</td>"
            for i, v in enumerate(row)) + "</tr>" for row in rows)
    return (f"<div class='table-wrap' role='region' tabindex='0' aria-label='"
            f"{escape(caption, quote=True)}'><table><caption>{escape(caption)}</caption>"
            f"<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>")


def _text(value: object) -> str:
    if value is None or value is pd.NA or (isinstance(value, float) and value != value):
        return ""
    return f"{value:,}" if isinstance(value, int) else str(value)


def _headline(tally: history.RunTally | None, blocking: int, record: Mapping[str, Any]) -> str:
    def item(n: int | str, label: str, cls: str = "") -> str:
        return (f"<li class='{cls}'><span class='n'>{escape(_text(n))}</span>"
                f"{escape(label)}</li>")

    if tally is None:
        total = sum((record.get("findings") or {}).values())
        return ("<ul class='headline'>" + item(total, "findings") + item(blocking, "blocking",
                                                                         "blocking")
                + "</ul><p class='muted'>No history: this run's findings were not recorded in "
                "the database of runs.</p>")
    return ("<ul class='headline'>" + item(tally.new, "new tonight")
            + item(tally.resolved, "resolved tonight") + item(tally.persisting, "persisting")
            + item(tally.accepted, "accepted") + item(blocking, "blocking", "blocking")
            + "</ul>")


def _groups(rows: list[dict[str, Any]]) -> str:
    """One table per group, in the order to act on them: each rule's counts by status,
    what it means, how to fix it and example ids (new ones first)."""
    if not rows:
        return "<p>No findings tonight.</p>"
    by_rule: dict[str, Counter[str]] = {}
    examples: dict[str, list[str]] = {}
    for r in sorted(rows, key=lambda r: (r["status"] != history.NEW, str(r["person_id"]))):
        by_rule.setdefault(r["rule"], Counter())[r["status"]] += 1
        if r["status"] != history.RESOLVED and len(examples.setdefault(r["rule"], [])) < \
                EXAMPLES:
            who = f"person {r['person_id']}" if r["person_id"] is not None else (
                f"UPN {r['upn']}" if r["upn"] else "")
            examples[r["rule"]].append(f"{r['table']} {r['record']}" + (
                f" ({who})" if who and not r["record"].startswith(("person", "upn")) else ""))
    out = []
    for group, title in catalogue.GROUPS.items():
        rules = sorted((r for r in by_rule if catalogue.ENTRIES.get(r) is not None
                        and catalogue.ENTRIES[r].group == group), key=catalogue.group_order)
        if not rules:
            continue
        out.append(f"<h3>{escape(title)}</h3>")
        for rule in rules:
            e, n = catalogue.entry(rule), by_rule[rule]
            counts = " · ".join(f"{n[s]:,} {label}" for s, label in (
                (history.NEW, "new"), (history.PERSISTING, "persisting"),
                (history.ACCEPTED, "accepted"), (history.RESOLVED, "resolved tonight"))
                if n[s])
            blocks = " (blocks publishing)" if e.blocking else ""
            out.append(
                f"<section class='rule{' blocks' if e.blocking else ''}' aria-label='"
                f"{escape(rule, quote=True)}'><h4><code>{escape(rule)}</code>{blocks}</h4>"
                f"<p class='counts'>{escape(counts)}</p><p>{escape(e.meaning)}</p>"
                f"<p><strong>How to fix it:</strong> {escape(e.fix)}</p>"
                + (f"<p><strong>Examples:</strong> {escape('; '.join(examples[rule]))}</p>"
                   if examples.get(rule) else "") + "</section>")
    unknown = [r for r in by_rule if r not in catalogue.ENTRIES]
    if unknown:
        out.append("<p>Other rules: " + escape(", ".join(sorted(unknown))) + "</p>")
    return "".join(out)


def _checks(labels: Sequence[str], unexpected: Mapping[str, Any],
            rows: list[dict[str, Any]], caption: str) -> str:
    if not labels:
        return "<p>None.</p>"
    lines = []
    for label in labels:
        check = catalogue.explain_label(label)
        lines.append([check.meaning, unexpected.get(label), check.fix,
                      "; ".join(_examples(label, rows)), label])
    return _table(["What it means", "Rows", "What to do", "Examples", "Check"], lines,
                  caption, numeric=(1,))


def _examples(label: str, rows: list[dict[str, Any]]) -> list[str]:
    """Ids of the rows behind a failed expectation, from the findings that list them."""
    related = catalogue.related_rule(label)
    if related is None:
        return []
    rule, table = related
    found = [r for r in rows if r["rule"] == rule and r["status"] != history.RESOLVED
             and str(r["table"]).startswith(table)]
    return [f"{r['table']} {r['record']}" for r in found[:EXAMPLES]]


def _new_list(rows: list[dict[str, Any]]) -> str:
    new = sorted((r for r in rows if r["status"] == history.NEW),
                 key=lambda r: (catalogue.group_order(r["rule"]), r["rule"], r["record"]))
    if not new:
        return "<p>Nothing new tonight.</p>"
    shown = [[r["person_id"], r["record"], r["table"], r["upn"], r["rule"]]
             for r in new[:MAX_LISTED]]
    more = (f"<p>{len(new) - MAX_LISTED:,} more: <code>databook findings --latest --status new"
            "</code>.</p>" if len(new) > MAX_LISTED else "")
    return _table(["Person id", "Record", "Table", "UPN", "Rule"], shown,
                  "Findings new tonight") + more


def render(record: Mapping[str, Any], findings: pd.DataFrame | None,
           data_docs: Path | None, folder: Path, tonight: Tonight | None = None) -> str:
    run_id = str(record["run_id"])
    status = str(record.get("status", "failed"))
    v = record.get("validation") or {}
    rows = tonight.rows if tonight is not None else _rows_without_history(findings)
    blocking_findings = sum(1 for r in rows if r["rule"] in BLOCKING
                            and r["status"] != history.RESOLVED)
    blocking = blocking_findings + len(v.get("blocking_failures", []))
    parts = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>Data quality: run {escape(run_id)}</title><style>{STYLE}</style></head>"
        "<body><main>",
        f"<h1>Data quality report</h1><p>Run <code>{escape(run_id)}</code>, as at "
        f"{escape(str(record.get('as_at')))}. <span id='status' class='status "
        f"{escape(status)}'>Status: {escape(status)}</span></p>"]
    if record.get("error"):
        parts.append(f"<p id='reason'>{escape(str(record['error']))}</p>")
    parts.append("<h2 id='tonight'>Tonight</h2>"
                 + _headline(tonight.tally if tonight else None, blocking, record))
    parts.append("<h2 id='act-first'>What to act on first</h2>"
                 "<p>Grouped by what could happen to a child, most serious first. The full "
                 "worklist, with each finding's first-seen date and nights open: "
                 "<code>databook findings --latest</code>.</p>" + _groups(rows))
    parts.append("<h2 id='new'>New tonight</h2>" + _new_list(rows))
    unexpected = v.get("unexpected") or {}
    parts.append("<h2 id='blocking'>Blocking checks that failed</h2>"
                 + (_checks(v.get("blocking_failures", []), unexpected, rows,
                            "Blocking checks that failed") if v else
                    "<p>Validation did not run.</p>"))
    parts.append("<h2 id='warnings'>Warnings</h2>"
                 + _checks(v.get("warnings", []), unexpected, rows, "Warnings"))
    drift = v.get("drift", [])
    parts.append("<h2 id='drift'>Changes since the last published run</h2>"
                 + ("<ul>" + "".join(f"<li>{escape(str(d))}</li>" for d in drift) + "</ul>"
                    if drift else "<p>None.</p>"))
    if v.get("accepted_drift"):
        parts.append(f"<p>Drift accepted: {escape(str(v['accepted_drift']))}</p>")
    partners = record.get("partners") or {}
    if partners.get("published") or partners.get("lapsed") or partners.get("note"):
        parts.append(_partners(partners))
    if tonight is not None and tonight.trends:
        parts.append("<h2 id='trends'>Trends</h2><p>The last "
                     f"{len(tonight.trends[0].runs)} run(s) with recorded findings.</p>"
                     + "".join(figure(t) for t in tonight.trends))
    parts.append("<h2 id='detail'>Detail</h2><ul>")
    if data_docs is not None:
        link = os.path.relpath(data_docs, folder)
        parts.append(f"<li><a id='data-docs' href='{escape(link, quote=True)}'>Great "
                     "Expectations Data Docs</a>: every expectation, suite by suite.</li>")
    parts.append("<li><code>findings.csv</code> in this run's folder: every finding by id."
                 "</li></ul></main></body></html>")
    return "\n".join(parts)


def _rows_without_history(findings: pd.DataFrame | None) -> list[dict[str, Any]]:
    """Tonight's findings as rows, all "new", when the history could not be read."""
    if findings is None or findings.empty:
        return []
    frame = history.identities(findings)
    return [{"status": history.NEW, "rule": rule, "table": table, "record": record,
             "person_id": None if person is pd.NA else int(person),
             "upn": None if upn is pd.NA else str(upn)}
            for rule, table, record, person, upn in zip(
                frame["rule"], frame["table_name"], frame["record"], frame["person_id"],
                frame["upn"], strict=True)]


def _partners(partners: Mapping[str, Any]) -> str:
    """Which partners this run published for, and which got nothing and why."""
    html = "<h2 id='partners'>Partners</h2>"
    if partners.get("note"):
        html += f"<p>{escape(str(partners['note']))}</p>"
    published = [str(p) for p in partners.get("published", [])]
    html += f"<p>Published for: {escape(', '.join(published) or 'none')}</p>"
    lapsed = partners.get("lapsed", [])
    if lapsed:
        html += ("<p>Nothing published for these partners:</p>"
                 + _table(["Partner", "Why"], [[p["partner_id"], p["reason"]] for p in lapsed],
                          "Partners with nothing published"))
    return html


def write(folder: Path, record: Mapping[str, Any], findings: pd.DataFrame | None,
          data_docs: Path | None, tonight: Tonight | None = None) -> Path:
    path = folder / REPORT_FILE
    write_file(path, render(record, findings, data_docs, folder, tonight).encode())
    return path
