"""Time the nightly run stage by stage on a large synthetic county.

    make bench            # 600 schools, 250,000 pupils, ~60,000 people known to social care
    python benchmarks/run.py --schools 60 --pupils 25000   # a quick look

Stages run as the flow runs them, but called directly so the figures are the product's own
work, not the orchestrator's (a temporary Prefect server adds a fixed 7 to 15 seconds).
The generated county is cached in benchmarks/out/ by size and seed.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import time
from datetime import UTC, date, datetime
from pathlib import Path

from demo import DemoSize, generate
from expectations.gate import validate_run
from extract import read_sources
from publish.drop import Signing, new_run_id, publish_run, school_files
from publish.keystore import Keystore
from publish.store import LocalStore
from publish.workbook import RunInfo
from transform import Rules, build_databook

AS_AT = date(2026, 11, 21)
OUT = Path(__file__).resolve().parent / "out"


def peak_mib() -> float:
    """Peak resident memory so far, of this process and of its finished worker processes."""
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return max(own, kids) / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--schools", type=int, default=600)
    parser.add_argument("--pupils", type=int, default=250_000)
    parser.add_argument("--seed", type=int, default=2015)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args()

    folder = OUT / f"county-{args.schools}-{args.pupils}-{args.seed}"
    case_url, roll_url = (f"sqlite:///{folder / n}" for n in ("case.sqlite", "roll.sqlite"))
    if not (folder / "roll.sqlite").exists():
        started = time.perf_counter()
        generate(case_url, roll_url, DemoSize(args.schools, args.pupils, args.seed, AS_AT))
        print(f"generated the county in {time.perf_counter() - started:.1f} s (not timed below)")

    stages: list[tuple[str, float, float]] = []
    clock = time.perf_counter()

    def lap(name: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        stages.append((name, now - clock, peak_mib()))
        clock = now

    data = read_sources(case_url, roll_url)
    lap("extract")
    rules = Rules(as_at=AS_AT)
    book = build_databook(data, rules)
    lap("transform")
    outcome = validate_run(book, data, rules, folder / "validation")
    lap("validate (GX, Data Docs)")
    home = folder / "state"
    passwords = Keystore.open(home).ensure_passwords(int(u) for u in book.schools["urn"])
    run = RunInfo(new_run_id(), AS_AT, datetime.now(UTC), "Starting Point", "01629 533190")
    files = list(school_files(book.schools, book.rows, passwords))
    lap("prepare files")
    publish_run(LocalStore(folder / "drop"), run, files, Signing.from_keystore(Keystore.open(home)),
                data.row_counts, workers=args.workers)
    lap("render, encrypt, sign")

    total = sum(s for _, s, _ in stages)
    print(f"\nmachine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"Python {platform.python_version()}, {args.workers} publish worker(s)")
    print(f"source: {sum(data.row_counts.values()):,} rows; published: "
          f"{book.summary()['rows']:,} rows for {len(files)} schools; "
          f"{len(outcome.checks)} expectations, {len(outcome.blocking_failures)} blocking "
          f"failure(s)")
    print(f"{'stage':<26}{'seconds':>9}{'share':>8}{'peak MiB':>10}")
    for name, seconds, peak in stages:
        print(f"{name:<26}{seconds:>9.2f}{seconds / total:>8.0%}{peak:>10.0f}")
    print(f"{'total':<26}{total:>9.2f}{'':>8}{peak_mib():>10.0f}")


if __name__ == "__main__":
    main()
