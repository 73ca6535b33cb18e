"""A same-day ``databook run --changed-only`` against a full nightly run, on the large county.

    python benchmarks/changed_only.py                      # 600 schools, 250,000 pupils
    python benchmarks/changed_only.py --schools 60 --pupils 25000   # a quick look

On a private copy of the benchmark county (benchmarks/out/changed-only-...): a first full run
(untimed: it makes every school's password and key), then, timed, a full run with the
Changes sheets, then five children's changes at five schools (a plan, a leaver, a new worker,
...), then ``--changed-only`` (an amendment re-publishing those five schools), then
``--changed-only`` again with nothing changed. The goal: the changed-only run
takes at most a fifth of the full run. A figure, not a test.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
from datetime import date
from pathlib import Path

import psutil
from measure import Measurement, run
from run import AS_AT, BIN, OUT, check, county

GOAL = 0.2


def _databook(env: dict[str, str], *extra: str) -> tuple[Measurement, float]:
    """The whole process, and the flow's own duration from its run record (what a run on a
    deployment's worker costs, without this process's start-up and temporary server)."""
    runs = Path(env["DATABOOK_HOME"]) / "runs"
    before = set(runs.iterdir()) if runs.exists() else set()
    m = check(run([str(BIN / "databook"), "run", "--as-at", AS_AT.isoformat(), *extra], env),
              f"databook run {' '.join(extra)}".strip())
    (new,) = set(runs.iterdir()) - before
    return m, float(json.loads((new / "run.json").read_text())["duration_s"])


def _happen(case_url: str, roll_url: str, schools: int, as_at: date) -> list[int]:
    from demo.changes import apply, choose
    from extract import read_sources
    from transform import Rules, build_databook

    book = build_databook(read_sources(case_url, roll_url), Rules(as_at=as_at))
    happened = choose(book.rows, schools)
    apply(case_url, roll_url, happened, book.rows, as_at)
    return sorted(h.urn for h in happened)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--schools", type=int, default=600)
    parser.add_argument("--pupils", type=int, default=250_000)
    parser.add_argument("--seed", type=int, default=2015)
    parser.add_argument("--changed", type=int, default=5)
    args = parser.parse_args()

    source = county(args.schools, args.pupils, args.seed)
    folder = OUT / f"changed-only-{args.schools}-{args.pupils}-{args.seed}"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    for name in ("case.sqlite", "roll.sqlite"):
        shutil.copy(source.folder / name, folder / name)
    case_url, roll_url = (f"sqlite:///{folder / n}" for n in ("case.sqlite", "roll.sqlite"))
    env = {"DATABOOK_HOME": str(folder / "state"), "DATABOOK_SOURCE_URL": case_url,
           "DATABOOK_ROLL_URL": roll_url, "DATABOOK_DROP": str(folder / "drop"),
           "PREFECT_HOME": str(folder / "state" / "prefect"),
           "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "180",
           "PYTHONPATH": str(Path(__file__).resolve().parents[1])}

    _databook(env)  # the first night: passwords and keys made once (not timed)
    full = _databook(env)
    urns = _happen(case_url, roll_url, args.changed, AS_AT)
    changed = _databook(env, "--changed-only")
    unchanged = _databook(env, "--changed-only")
    if "nothing published" not in unchanged[0].stderr:
        raise SystemExit("benchmark: the second --changed-only run published something")

    print(f"\nmachine: {platform.machine()}, {os.cpu_count()} cores, "
          f"{psutil.virtual_memory().total / 2**30:.0f} GiB, load {os.getloadavg()[0]:.1f} "
          f"(shared), Python {platform.python_version()}")
    print(f"county: {args.schools} schools, {args.pupils:,} pupils; changed schools: {urns}")
    print(f"\n{'databook run':<52}{'process s':>10}{'flow s':>8}{'peak MiB':>10}")
    for label, (m, flow_s) in (("full run, every school with its Changes sheet", full),
                               (f"--changed-only, {len(urns)} schools changed", changed),
                               ("--changed-only, nothing changed", unchanged)):
        print(f"  {label:<50}{m.seconds:>10.1f}{flow_s:>8.1f}{m.peak_mib:>10.0f}")
    for what, ratio in (("whole process", changed[0].seconds / full[0].seconds),
                        ("flow alone", changed[1] / full[1])):
        verdict = "meets" if ratio <= GOAL else "MISSES"
        print(f"--changed-only / full run, {what}: {ratio:.2f} ({verdict} the goal of {GOAL:.2f})")


if __name__ == "__main__":
    main()
