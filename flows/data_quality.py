"""The nightly run's data-quality step: record tonight's findings in the database of runs,
then write the run's report from that history.

A plain function, not a task: its input and its tables hold case-record ids, which must never
reach Prefect's database, results or logs; what it logs and what it adds to the run record are
counts only. A failure here never fails the run (the databooks are what matter tonight): the
report is written without the history, and the log says why, by the error's type only.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from flows.settings import NightlySettings
from quality import history, report

log = logging.getLogger(__name__)


def record_findings(settings: NightlySettings, record: dict[str, Any],
                    findings: pd.DataFrame | None) -> report.Tonight | None:
    """Tonight's findings against the previous runs (new, persisting, resolved, accepted);
    adds the counts to ``record["findings_status"]``. None when there is nothing to record
    (the run stopped before its findings were known) or the database could not be used."""
    if findings is None:
        return None
    try:
        engine = history.open_history(settings.runs_database)
        try:
            tally = history.record_run(engine, record, findings)
            tonight = report.from_history(engine, str(record["run_id"]))
        finally:
            engine.dispose()
    except Exception as exc:  # the type only: a driver's message can quote a value
        log.warning("findings history not recorded (%s); the report shows tonight's findings "
                    "without it", type(exc).__name__)
        return None
    record["findings_status"] = tally.as_dict()
    log.info("findings: %d new, %d persisting, %d resolved, %d accepted", tally.new,
             tally.persisting, tally.resolved, tally.accepted)
    return tonight


def write_report(folder: Path, record: Mapping[str, Any], findings: pd.DataFrame | None,
                 data_docs: Path | None, tonight: report.Tonight | None) -> Path:
    return report.write(folder, record, findings, data_docs, tonight)


def prune(settings: NightlySettings, run_ids: list[str]) -> int:
    """Forget the findings history of run records the retention has just pruned (their
    per-run counts, and the findings no remaining run saw); returns the findings removed.
    For the run-record retention to call with the ids it pruned."""
    if not run_ids:
        return 0
    engine = history.open_history(settings.runs_database)
    try:
        return history.prune_findings(engine, run_ids)
    finally:
        engine.dispose()
