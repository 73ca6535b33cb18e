"""The data-quality step on a 600-school county, beside the run's own transform: recording the
night's findings in the database of runs (with 30 nights of history already there), building
the report (headline, groups, trend charts) and the worklist (CSV and .xlsx).

The baseline, measured in the same process on the same data, is the transform
(``build_databook``), the step the findings come from; the figure is the ratio of the
data-quality step to it, plus the seconds of each part (the goal: under 1 s beside the run).

    python benchmarks/data_quality.py [--schools 600] [--pupils 250000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from run import county

AS_AT = date(2026, 11, 21)
HISTORY = 30


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    started = time.perf_counter()
    out = fn()
    return time.perf_counter() - started, out


def perturbed(findings: pd.DataFrame, night: int) -> pd.DataFrame:
    """The night's findings, with about 1% fixed and 1% new each night (as a county's
    data-quality team works through them and new records arrive)."""
    rng = np.random.default_rng(night)
    kept = findings[rng.random(len(findings)) > 0.01 * (night % 5)]
    fresh = kept.sample(frac=0.01, random_state=night).copy()
    fresh["record_id"] = (fresh["record_id"].fillna(0) + 10_000_000 * (night + 1)).astype(
        "Int64")
    return pd.concat([kept, fresh], ignore_index=True)


def one_round(data: Any, rules: Any, r: int) -> dict[str, float]:
    """One transform (the baseline) and one data-quality step after 30 nights of history."""
    from quality import history, report, worklist
    from transform import build_databook

    transform_s, book = timed(lambda: build_databook(data, rules))
    findings = book.findings
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        engine = history.open_history(f"sqlite:///{folder / 'runs.sqlite'}")
        start = datetime(2026, 10, 1, 2, tzinfo=UTC)
        base = {"source_rows": data.row_counts, "summary": book.summary()}
        for night in range(HISTORY):  # a month of history first (not timed)
            when = start + timedelta(days=night)
            history.record_run(engine, {"run_id": f"night-{night}", "as_at": AS_AT,
                                        "started_at": when.isoformat(), **base},
                               perturbed(findings, night))
        when = start + timedelta(days=HISTORY)
        record = {"run_id": f"tonight-{r}", "as_at": AS_AT.isoformat(),
                  "started_at": when.isoformat(), "status": "published", **base}
        record_s, _ = timed(lambda: history.record_run(engine, record, findings))
        report_s, _ = timed(lambda: report.write(
            folder, record, findings, None, report.from_history(engine, record["run_id"])))

        def lists() -> None:
            with engine.connect() as conn:
                run = history.find_run(conn, None)
                items = worklist.rows(history.run_findings(conn, run))
            worklist.csv(items)
            worklist.xlsx(items, "benchmark")

        worklist_s, _ = timed(lists)
        engine.dispose()
    step = record_s + report_s + worklist_s
    print(f"round {r + 1}: transform {transform_s:.2f} s; record {record_s:.2f} s, "
          f"report {report_s:.2f} s, worklist {worklist_s:.2f} s: data-quality step "
          f"{step:.2f} s = {step / transform_s:.2f} x the transform", flush=True)
    return {"transform_s": transform_s, "record_s": record_s, "report_s": report_s,
            "worklist_s": worklist_s, "quality_s": step, "ratio": step / transform_s,
            "findings": float(len(findings))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--schools", type=int, default=600)
    parser.add_argument("--pupils", type=int, default=250_000)
    parser.add_argument("--seed", type=int, default=2015)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    c = county(args.schools, args.pupils, args.seed)

    from extract import read_sources
    from transform import Rules, build_databook

    data = read_sources(c.case_url, c.roll_url)
    rules = Rules(as_at=AS_AT)
    build_databook(data, rules)  # warm up (imports, caches), not timed
    rounds = [one_round(data, rules, r) for r in range(args.repeat)]
    median = {k: statistics.median(x[k] for x in rounds) for k in rounds[0]}
    findings = int(median.pop("findings"))
    print(json.dumps({"schools": args.schools, "findings": findings,
                      "history_nights": HISTORY, "median": median}))
    print(f"median: data-quality step {median['quality_s']:.2f} s "
          f"({findings:,} findings; goal < 1 s), {median['ratio']:.2f} x the transform "
          f"({median['transform_s']:.2f} s)")


if __name__ == "__main__":
    main()
