"""Growth: the stages (extract to signed manifest) and the whole ``databook run`` against a
running Prefect server, for counties of increasing size, in one table (time, peak memory,
time per 1,000 source rows: flat means linear).

    python benchmarks/growth.py --schools 150 600 2400        # pupils scale with schools

Each county is generated once (cached in benchmarks/out/, untimed) and has a first night
first (an untimed ``databook run``: it derives every school's workbook and look-up keys once).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
from typing import Any

import psutil
from measure import run as measured
from run import AS_AT, BIN, HERE, check, county, prefect_server, uncached_keys


def pupils(schools: int) -> int:
    """The benchmark county's ratio: 250,000 pupils for 600 schools."""
    return schools * 250_000 // 600


def stages(c: Any, workers: int) -> dict[str, Any]:
    m = check(measured([sys.executable, str(HERE / "stages.py"), c.case_url, c.roll_url,
                   str(c.folder / "state"), str(c.folder / "stages-drop"),
                   str(c.folder / "stages-report"), str(workers)],
                  {"PYTHONPATH": str(HERE.parent)}), "the stages")
    profile: dict[str, Any] = json.loads(m.stdout.strip().splitlines()[-1])
    profile["wall"], profile["peak_mib"] = m.seconds, m.peak_mib
    return profile


def databook_run(c: Any, api_url: str) -> Any:
    return check(measured([str(BIN / "databook"), "run", "--as-at", AS_AT.isoformat()],
                          {**c.env, "PREFECT_API_URL": api_url}), "databook run")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--schools", type=int, nargs="+", default=[150, 600, 2400])
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--seed", type=int, default=2015)
    args = parser.parse_args()
    lines = []
    for schools in args.schools:
        c = county(schools, pupils(schools), args.seed)
        with prefect_server(c) as api_url:
            if uncached_keys(c):
                print(f"{schools} schools: first night (keys derived once, untimed)",
                      file=sys.stderr)
                databook_run(c, api_url)
            profile = stages(c, args.workers)
            whole = databook_run(c, api_url)
        work = sum(p["seconds"] for p in profile["phases"] if not p["fixed"])
        phases = {key: sum(p["seconds"] for p in profile["phases"]
                           if not p["fixed"] and key in p["phase"])
                  for key in ("extract", "transform", "validation", "render")}
        lines.append((schools, profile, work, phases, whole))
        print(f"{schools} schools done", file=sys.stderr)
    print(f"\nmachine: {platform.machine()}, {os.cpu_count()} cores, "
          f"{psutil.virtual_memory().total / 2**30:.0f} GiB, load {os.getloadavg()[0]:.1f} "
          f"(shared), Python {platform.python_version()}; {args.workers} worker(s)")
    print(f"{'schools':>8}{'source rows':>13}{'extract':>9}{'transf.':>9}{'valid.':>8}"
          f"{'render':>8}{'work s':>8}{'peak MiB':>10}{'s/100k rows':>13}"
          f"{'run s':>8}{'run MiB':>9}")
    for schools, profile, work, phases, whole in lines:
        rows = profile["source_rows"]
        print(f"{schools:>8}{rows:>13,}{phases['extract']:>9.2f}{phases['transform']:>9.2f}"
              f"{phases['validation']:>8.2f}{phases['render']:>8.2f}{work:>8.2f}"
              f"{profile['peak_mib']:>10.0f}{work / rows * 1e5:>13.2f}"
              f"{whole.seconds:>8.1f}{whole.peak_mib:>9.0f}")


if __name__ == "__main__":
    main()
