"""``databook runs`` and ``databook report``: what ran, and where its report is."""

from __future__ import annotations

import argparse

from databook.drop import RUN_ID
from flows.recovery import mark_crashed
from flows.settings import SettingsError, load
from publish.report import read_run_record
from quality.report import REPORT_FILE

ERRORS: tuple[type[Exception], ...] = (SettingsError,)


def register(sub: argparse._SubParsersAction) -> None:
    history = sub.add_parser("runs", help="list recent runs")
    history.add_argument("--limit", type=int, default=20)
    history.set_defaults(handler=runs)

    rep = sub.add_parser("report", help="print where a run's data-quality report is")
    which_run = rep.add_mutually_exclusive_group(required=True)
    which_run.add_argument("--latest", action="store_true", help="the most recent run")
    which_run.add_argument("run", nargs="?", help="a run id")
    rep.set_defaults(handler=report)


def runs(args: argparse.Namespace) -> int:
    """List runs, newest first; a run left "running" by a process that is gone is recorded as
    crashed first, so a killed run never looks as if it were still going."""
    if args.limit < 1:
        raise SettingsError("--limit must be at least 1")
    runs_dir = load().runs_dir
    if runs_dir.is_dir():
        mark_crashed(runs_dir)
    records = [read_run_record(p.parent) for p in sorted(runs_dir.glob("*/run.json"))]
    rows = [("run", "as at", "status", "schools", "children", "seconds", "report")]
    for r in reversed(records[-args.limit:]):
        summary = r.get("summary", {})
        rows.append((str(r["run_id"]), str(r.get("as_at", "")), str(r.get("status", "?")),
                     str(r.get("schools_published", 0)), str(summary.get("children", "")),
                     str(r.get("duration_s", "")), str(r.get("report", ""))))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    for row in rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=False)) + "  "
              + row[-1])
    return 0


def report(args: argparse.Namespace) -> int:
    runs_dir = load().runs_dir
    if args.latest:
        done = sorted(p.parent.name for p in runs_dir.glob(f"*/{REPORT_FILE}"))
        if not done:
            raise SettingsError(f"no run has written a report in {runs_dir} yet")
        run_id = done[-1]
    else:
        run_id = args.run
        if not RUN_ID.match(run_id):
            raise SettingsError(f"{run_id!r} is not a run id like 20261121T020003.512345Z-1a2b3c")
    path = runs_dir / run_id / REPORT_FILE
    if not path.is_file():
        raise SettingsError(f"there is no report for run {run_id} in {runs_dir}")
    print(path)
    return 0
