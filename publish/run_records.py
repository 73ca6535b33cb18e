"""How long run records are kept: ``$DATABOOK_HOME/runs/<run id>/`` holds a run's record, its
data-quality findings (``findings.csv``), its report (``report.html``, which names people by
id and pupils by UPN), its ``run.log`` and Great Expectations' Data Docs. Least data kept: the
newest ``keep_run_records`` runs' records stay (by default as many as the drop keeps runs,
``keep_runs``); older ones are removed as the drop's old runs are, every file overwritten
with zeros before it is unlinked.

Never removed: a record still "running" (a run in progress, or a crash not yet recorded) and
the newest published run's record, which the next run's comparison and ``databook runs``
read back.
"""

from __future__ import annotations

import logging
from pathlib import Path

from databook.drop import RUN_ID
from databook.store import LocalStore
from publish.report import RUN_FILE, read_run_record

log = logging.getLogger("databook.retention")


def run_record_ids(runs_dir: Path) -> list[str]:
    """Every run record's id, oldest first (ids begin with their UTC start time)."""
    if not runs_dir.is_dir():
        return []
    return sorted(p.name for p in runs_dir.iterdir() if p.is_dir() and RUN_ID.match(p.name))


def remove_run_records(runs_dir: Path, run_ids: list[str]) -> list[str]:
    """Remove these runs' records, each file overwritten before it is unlinked; returns the
    ids removed. The one place run records are deleted: whatever else keeps rows by run id
    (a findings history, say) prunes the same ids."""
    store = LocalStore(runs_dir)
    removed = []
    for run_id in run_ids:
        if not RUN_ID.match(run_id) or not (runs_dir / run_id).is_dir():
            continue
        store.remove_tree(run_id, secure=True)
        removed.append(run_id)
    return removed


def _status(runs_dir: Path, run_id: str) -> str | None:
    try:
        return str(read_run_record(runs_dir / run_id).get("status"))
    except (OSError, ValueError):
        return None if not (runs_dir / run_id / RUN_FILE).exists() else "unreadable"


def prune_run_records(runs_dir: Path, keep: int) -> list[str]:
    """Remove all but the newest ``keep`` run records (never a running one, nor the newest
    published run's); returns the ids removed."""
    ids = run_record_ids(runs_dir)
    status = {run_id: _status(runs_dir, run_id) for run_id in ids}
    published = [r for r in ids if status[r] == "published"]
    spared = set(ids[-keep:] if keep > 0 else []) | set(published[-1:])
    doomed = [r for r in ids if r not in spared and status[r] != "running"]
    removed = remove_run_records(runs_dir, doomed)
    if removed:
        log.info("retention: removed %d run record(s) older than the newest %d", len(removed),
                 keep)
    return removed
