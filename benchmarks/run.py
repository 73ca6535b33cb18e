"""The nightly run against the analyst's script, side by side on one large synthetic county.

    make bench            # 600 schools, 250,000 pupils, ~60,000 people known to social care
    python benchmarks/run.py --schools 60 --pupils 25000 --repeat 1   # a quick look

In each round, on the same data: the naive script (benchmarks/naive.py), the whole
``databook run`` process (Prefect's temporary server and all), the same command against an
already running ``prefect server start`` (``PREFECT_API_URL``, how a council runs it through
its worker; started once, before the rounds, not timed), and the stages alone, extract to
signed manifest, profiled phase by phase (benchmarks/stages.py). Rounds interleave them so
a noisy machine slows both sides alike; the ratios compare the best of each. Then
``databook keys rotate --school`` against a plain copy of the run it re-publishes, and the
fixed costs (start-up, imports, Prefect's server, the process pool) on their own.

The generated county and the benchmark's state are kept in benchmarks/out/ by size and seed:
the first ``databook run`` on new state also derives each school's key once (a first night).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

import psutil
from measure import Measurement, run

from demo import DemoSize, generate

AS_AT = date(2026, 11, 21)
HERE = Path(__file__).resolve().parent
OUT = HERE / "out"
BIN = Path(sys.executable).parent
GOALS = {"whole": 4.0, "server": 6.0, "stages": 10.0, "peak_mib": 1024.0, "rotate_s": 2.0}


@dataclass(frozen=True)
class County:
    folder: Path
    case_url: str
    roll_url: str

    @property
    def env(self) -> dict[str, str]:
        return {"DATABOOK_HOME": str(self.folder / "state"), "DATABOOK_SOURCE_URL":
                self.case_url, "DATABOOK_ROLL_URL": self.roll_url,
                "DATABOOK_DROP": str(self.folder / "drop"), "PYTHONPATH": str(HERE.parent)}


def county(schools: int, pupils: int, seed: int) -> County:
    folder = OUT / f"county-{schools}-{pupils}-{seed}"
    found = County(folder, *(f"sqlite:///{folder / n}" for n in ("case.sqlite", "roll.sqlite")))
    if not (folder / "roll.sqlite").exists():
        started = time.perf_counter()
        generate(found.case_url, found.roll_url, DemoSize(schools, pupils, seed, AS_AT))
        print(f"generated the county in {time.perf_counter() - started:.1f} s (not timed)")
    return found


def check(m: Measurement, what: str) -> Measurement:
    if m.returncode != 0:
        tail = (m.stderr.strip().splitlines() or ["(no output)"])[-1]
        raise SystemExit(f"benchmark: {what} failed (exit {m.returncode}): {tail}")
    return m


def uncached_keys(c: County) -> int:
    """Schools with a password but no cached workbook or look-up key: the next run derives
    those once."""
    from publish.keystore import Keystore

    if not (c.folder / "state" / "keystore.fernet").exists():
        return -1
    keystore = Keystore.open(c.folder / "state")
    urns = [int(u) for u in keystore.ensure_passwords([])]
    return sum(1 for u in urns
               if keystore.current_key(u) is None or keystore.current_lookup_key(u) is None)


@contextmanager
def prefect_server(c: County) -> Iterator[str]:
    """``prefect server start`` on a free loopback port with its own home in the county
    folder, as a council keeps one running; yields its API URL. Its start is not timed."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    home = c.folder / "prefect-server"
    home.mkdir(exist_ok=True)
    env = {**os.environ, "PREFECT_HOME": str(home), "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
    env.pop("PREFECT_API_URL", None)
    log = (home / "server.log").open("wb")
    server = subprocess.Popen([str(BIN / "prefect"), "server", "start", "--host", "127.0.0.1",
                               "--port", str(port)], env=env, stdout=log,
                              stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}/api"
    try:
        deadline = time.monotonic() + 300
        while True:
            try:
                urllib.request.urlopen(f"{url}/health", timeout=2).close()
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit("benchmark: prefect server start failed; see "
                                     f"{home / 'server.log'}") from None
                time.sleep(0.5)
        yield url
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()
        log.close()


Round = tuple[Measurement, Measurement, Measurement, dict[str, Any]]


def round_trip(c: County, workers: int, api_url: str) -> Round:
    naive_dir = Path(tempfile.mkdtemp(prefix="naive-", dir=c.folder))
    try:
        naive = check(run([sys.executable, str(HERE / "naive.py"), c.case_url, c.roll_url,
                           str(naive_dir), AS_AT.isoformat()]), "the naive script")
    finally:
        shutil.rmtree(naive_dir)
    started = datetime.now()
    whole = check(run([str(BIN / "databook"), "run", "--as-at", AS_AT.isoformat()], c.env),
                  "databook run")
    timelines.append(timeline(c, started))
    started = datetime.now()
    served = check(run([str(BIN / "databook"), "run", "--as-at", AS_AT.isoformat()],
                       {**c.env, "PREFECT_API_URL": api_url}),
                   "databook run against a running Prefect server")
    server_timelines.append(timeline(c, started))
    stages = check(run([sys.executable, str(HERE / "stages.py"), c.case_url, c.roll_url,
                        str(c.folder / "state"), str(c.folder / "stages-drop"),
                        str(c.folder / "stages-report"), str(workers)],
                       {"PYTHONPATH": str(HERE.parent)}), "the stages")
    profile: dict[str, Any] = json.loads(stages.stdout.strip().splitlines()[-1])
    profile["wall"], profile["peak_mib"] = stages.seconds, stages.peak_mib
    return naive, whole, served, profile


#: What the run log says when each part of ``databook run`` ends, in order.
MILESTONES = (("run recorded (CLI, imports, pre-flight)", "details in"),
              ("Prefect server asked for", "Starting temporary server"),
              ("flow started (server up)", "Beginning flow run"),
              ("extract", "extracted "), ("transform", "databook: {"),
              ("compare with the latest run", "since "), ("validate", "validation: "),
              ("render, encrypt, write, sign", "published "),
              ("flow finished", "Finished in state Completed()"),
              ("server stopped", "Stopping temporary server"))
timelines: list[list[tuple[str, float]]] = []
server_timelines: list[list[tuple[str, float]]] = []


def timeline(c: County, started: datetime) -> list[tuple[str, float]]:
    """Seconds from the command's start to each milestone in its run log (1 s resolution:
    the log has whole seconds)."""
    newest = max((c.folder / "state" / "runs").glob("*/run.log"), key=lambda p: p.stat().st_mtime)
    lines = [ln for ln in newest.read_text(errors="replace").splitlines()
             if len(ln) > 9 and ln[2] == ":" and ln[5] == ":"]
    seen: list[tuple[str, float]] = []
    position = 0
    for name, marker in MILESTONES:  # each after the last one found; a missing one is skipped
        for i in range(position, len(lines)):
            if marker in lines[i] and (name != "flow finished" or "flow_runs" in lines[i]):
                at = datetime.combine(started.date(),
                                      datetime.strptime(lines[i][:8], "%H:%M:%S").time())
                seen.append((name, max(0.0, (at - started.replace(microsecond=0))
                                       .total_seconds())))
                position = i + 1
                break
    return seen


def rotation(c: County) -> tuple[Measurement, float]:
    """One school's rotation, and a plain copy of the run it re-publishes for comparison."""
    drop = c.folder / "drop"
    run_id = (drop / "latest").read_text().strip()
    urn = sorted(p.stem for p in (drop / run_id).glob("*.xlsx"))[0]
    rotated = check(run([str(BIN / "databook"), "keys", "rotate", "--school", urn], c.env),
                    "databook keys rotate")
    target = Path(tempfile.mkdtemp(prefix="copy-", dir=c.folder)) / run_id
    started = time.perf_counter()
    shutil.copytree(drop / run_id, target)
    copy_s = time.perf_counter() - started
    shutil.rmtree(target.parent)
    return rotated, copy_s


def fixed_costs(c: County) -> list[tuple[str, Measurement]]:
    py = sys.executable
    prefect_home = {"PREFECT_HOME": str(c.folder / "state" / "prefect"),
                    "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "180",
                    "PYTHONPATH": str(HERE.parent)}
    return [
        ("python itself", run([py, "-c", "pass"])),
        ("databook --help", run([str(BIN / "databook"), "--help"])),
        ("import flows.nightly (Prefect and the stages)",
         run([py, "-c", "import flows.nightly"], prefect_home)),
        ("import great_expectations", run([py, "-c", "import great_expectations"])),
        ("Prefect temporary server and an empty flow",
         run([py, "-c", "from prefect import flow\nflow(lambda: None, name='empty')()"],
             prefect_home)),
    ]


def _print_timeline(title: str, line: list[tuple[str, float]]) -> None:
    print(f"\n{title}, seconds from its start (from its run log):")
    last = 0.0
    for name, at in line:
        print(f"  {name:<42}{at:>6.0f}{at - last:>+6.0f}")
        last = at


def show(c: County, rounds: list[Round], rotations: list[tuple[Measurement, float]],
         fixed: list[tuple[str, Measurement]], workers: int, first_run_keys: int) -> None:
    profile = min((r[3] for r in rounds), key=lambda p: p["wall"])
    print(f"\nmachine: {platform.machine()}, {os.cpu_count()} cores, "
          f"{psutil.virtual_memory().total / 2**30:.0f} GiB, load {os.getloadavg()[0]:.1f} "
          f"(shared), Python {platform.python_version()}; {workers} publish worker(s)")
    print(f"county: {profile['source_rows']:,} source rows; {profile['published_rows']:,} "
          f"published rows for {profile['schools']} schools ({c.folder.name})")
    if first_run_keys:
        print(f"round 1's databook run was a first night: it derived "
              f"{'every' if first_run_keys < 0 else first_run_keys} school key(s) once")
    print(f"\n{'stages alone (best round)':<44}{'seconds':>8}{'peak MiB':>10}")
    for p in profile["phases"]:
        tag = " [fixed]" if p["fixed"] else ""
        print(f"  {p['phase'] + tag:<42}{p['seconds']:>8.2f}{p['peak_mib']:>10.0f}")
    work = sum(p["seconds"] for p in profile["phases"] if not p["fixed"])
    print(f"  {'work, extract to signed manifest':<42}{work:>8.2f}")
    print(f"  {'whole process (with python start-up)':<42}{profile['wall']:>8.2f}"
          f"{profile['peak_mib']:>10.0f}")
    print(f"\n{'round':<7}{'naive s':>8}{'MiB':>6}{'run s':>8}{'MiB':>6}{'server s':>10}"
          f"{'MiB':>6}{'stages s':>10}{'work s':>8}{'ratios run/server/work':>24}")
    for i, (naive, whole, served, prof) in enumerate(rounds, 1):
        w = sum(p["seconds"] for p in prof["phases"] if not p["fixed"])
        print(f"{i:<7}{naive.seconds:>8.1f}{naive.peak_mib:>6.0f}{whole.seconds:>8.1f}"
              f"{whole.peak_mib:>6.0f}{served.seconds:>10.1f}{served.peak_mib:>6.0f}"
              f"{prof['wall']:>10.1f}{w:>8.1f}{naive.seconds / whole.seconds:>10.1f}x"
              f"{naive.seconds / served.seconds:>6.1f}x{naive.seconds / w:>6.1f}x")
    naive_best = min(r[0].seconds for r in rounds)
    steady = rounds[1:] if first_run_keys and len(rounds) > 1 else rounds
    whole_best = min(r[1].seconds for r in steady)
    served_best = min(r[2].seconds for r in steady)
    work_best = min(sum(p["seconds"] for p in r[3]["phases"] if not p["fixed"]) for r in rounds)
    peak = max(max(r[1].peak_mib, r[2].peak_mib) for r in rounds)
    print(f"\nwhole databook run vs naive: {naive_best / whole_best:.1f}x "
          f"(goal {GOALS['whole']:.0f}x; best {whole_best:.1f} s vs {naive_best:.1f} s)")
    print(f"against a running server:    {naive_best / served_best:.1f}x "
          f"(goal {GOALS['server']:.0f}x; best {served_best:.1f} s)")
    print(f"stages alone vs naive:       {naive_best / work_best:.1f}x "
          f"(goal {GOALS['stages']:.0f}x; {work_best:.1f} s)")
    extract = min(next(p["seconds"] for p in r[3]["phases"] if p["phase"] == "extract")
                  for r in rounds)
    print(f"extract: {profile['source_rows'] / extract:,.0f} source rows/s "
          f"(goal >= 500,000; {extract:.2f} s)")
    print(f"peak memory of databook run: {peak:.0f} MiB (goal <= {GOALS['peak_mib']:.0f}; "
          f"naive {max(r[0].peak_mib for r in rounds):.0f} MiB)")
    for i, (rotated, copy_s) in enumerate(rotations, 1):
        print(f"keys rotate --school, try {i}: {rotated.seconds:.2f} s; a plain copy of the "
              f"run: {copy_s:.2f} s (goal < {GOALS['rotate_s']:.0f} s plus the copy)")
    if timelines:
        _print_timeline("databook run (temporary server), last round", timelines[-1])
    if server_timelines:
        _print_timeline("databook run (running server), last round", server_timelines[-1])
    print("\nfixed costs, each in a fresh process:")
    for name, m in fixed:
        print(f"  {name:<48}{m.seconds:>7.2f} s{m.peak_mib:>7.0f} MiB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--schools", type=int, default=600)
    parser.add_argument("--pupils", type=int, default=250_000)
    parser.add_argument("--seed", type=int, default=2015)
    parser.add_argument("--repeat", type=int, default=2, help="rounds (default 2)")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args()
    c = county(args.schools, args.pupils, args.seed)
    first_run_keys = uncached_keys(c)
    rounds = []
    with prefect_server(c) as api_url:
        for i in range(args.repeat):
            rounds.append(round_trip(c, args.workers, api_url))
            print(f"round {i + 1} of {args.repeat} done", file=sys.stderr)
    rotations = [rotation(c) for _ in range(args.repeat)]
    show(c, rounds, rotations, fixed_costs(c), args.workers, first_run_keys)


if __name__ == "__main__":
    main()
