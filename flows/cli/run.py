"""``databook run``, ``databook demo`` and ``databook demo-data``: the nightly flow, by hand."""

from __future__ import annotations

import argparse
import logging
import os
from contextlib import nullcontext
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from databook.drop import ManifestError
from databook.faults import StageFailed
from databook.settings import DEMO_MARK
from expectations.gate import PublishBlocked
from extract import SourceError
from flows import temporary_server
from flows.settings import NightlySettings, SettingsError, load
from publish.errors import KeystoreError, PublishError
from transform.errors import DataError

if TYPE_CHECKING:
    from flows.preflight import RunPlan

ERRORS: tuple[type[Exception], ...] = (SourceError, DataError, PublishError, KeystoreError,
                                       ManifestError, SettingsError, StageFailed)
BLOCKED_ERRORS: tuple[type[Exception], ...] = (PublishBlocked,)
log = logging.getLogger("databook")


def register(sub: argparse._SubParsersAction) -> None:
    run = sub.add_parser("run", help="run the nightly flow once")
    run.add_argument("--as-at", help="the date the databooks describe (default: today, London)")
    run.add_argument("--drop", help="the drop folder (env DATABOOK_DROP)")
    run.add_argument("--accept-drift", metavar="REASON",
                     help="publish despite a drift from the last run; the reason goes into the "
                          "signed manifest")
    run.add_argument("--drift-tolerance", type=float, metavar="FRACTION",
                     help="county-wide drift threshold for this run, 0 to 1 (default 0.2)")
    run.add_argument("--task-runner", choices=("auto", "processes", "threads", "dask"),
                     default="auto", help="where the per-school work runs (auto: processes "
                     "for 2,000 schools or more, else threads)")
    run.add_argument("--dask-address", metavar="tcp://HOST:PORT",
                     help="an existing Dask scheduler, with --task-runner dask")
    run.add_argument("--changed-only", action="store_true",
                     help="publish only the schools whose rows changed since the latest run, "
                          "as a signed amendment of it (nothing changed: nothing published)")
    _sources(run)
    run.set_defaults(handler=handle)

    data = sub.add_parser("demo-data", help="write the synthetic demo databases")
    _demo_size(data)
    _sources(data)
    data.set_defaults(handler=handle)

    demo = sub.add_parser("demo", help="write the demo databases, then run")
    _demo_size(demo)
    demo.add_argument("--drop", help="the drop folder (env DATABOOK_DROP)")
    demo.set_defaults(handler=handle)


def _sources(cmd: argparse.ArgumentParser) -> None:
    cmd.add_argument("--source-url", help="case database URL (env DATABOOK_SOURCE_URL)")
    cmd.add_argument("--roll-url", help="school roll URL (env DATABOOK_ROLL_URL)")


def _demo_size(cmd: argparse.ArgumentParser) -> None:
    cmd.add_argument("--schools", type=int, default=12)
    cmd.add_argument("--pupils", type=int, default=3000)
    cmd.add_argument("--seed", type=int, default=2015)
    cmd.add_argument("--as-at", help="reference date for the demo histories (YYYY-MM-DD)")


def handle(args: argparse.Namespace) -> int:
    from flows import preflight

    settings = load({"source_url": getattr(args, "source_url", None),
                     "roll_url": getattr(args, "roll_url", None),
                     "drop": getattr(args, "drop", None)})
    if args.command in ("demo-data", "demo"):
        _generate(settings, args)
        if args.command == "demo-data":
            print(settings.demo_dir)
            return 0
    accept = ("demo data regenerated" if args.command == "demo"
              else getattr(args, "accept_drift", None))
    plan = preflight.plan(settings, args.as_at, accept, getattr(args, "drift_tolerance", None),
                          getattr(args, "task_runner", "auto"),
                          getattr(args, "dask_address", None))
    if getattr(args, "changed_only", False):
        plan = replace(plan, changed_only=True)
    print(start(settings, plan))
    return 0


def _generate(settings: NightlySettings, args: argparse.Namespace) -> None:
    from demo import DemoSize, generate
    from flows.preflight import check_as_at, make_private_tree

    if args.schools < 1 or args.pupils < 1:
        raise SettingsError("--schools and --pupils must be at least 1")
    make_private_tree(settings.demo_dir)
    (Path(settings.home) / DEMO_MARK).write_text(
        "This home holds synthetic demo data made by `databook demo`.\n")
    size = DemoSize(args.schools, args.pupils, args.seed, check_as_at(args.as_at))
    counts = generate(settings.source_url, settings.roll_url, size)
    log.info("demo data: %d schools, %d enrolments, %d case people", counts["EDU_SCHOOLS"],
             counts["EDU_ENROLMENTS"], counts["DM_PERSONS"])


def start(settings: NightlySettings, plan: RunPlan) -> str:
    """Run the flow for a checked plan: earlier crashes recorded first, this run recorded as
    "running" before Prefect starts, and Prefect's own output sent to the run's log file."""
    from databook.runlog import attach_run_log
    from flows import recovery
    from flows.run_lock import run_lock
    from publish.drop import new_run_id
    from publish.report import write_run_record

    run_id = new_run_id()
    # Taken before the run is recorded: a run refused by the lock leaves no record behind.
    with run_lock(settings.home, run_id):
        recovery.clean_up_after_crashes(settings.runs_dir)
        folder = write_run_record(settings.runs_dir, run_id, {
            "run_id": run_id, "as_at": plan.as_at.isoformat(), "status": "running",
            "started_at": datetime.now(UTC).isoformat(), **recovery.this_process()})
        log_path = attach_run_log(folder)
        log.info("run %s: details in %s", run_id, log_path)
        server_ready = temporary_server.warm()
        # The flow reads its settings from the environment inside the run, so URLs holding
        # passwords are never sent to Prefect as parameters.
        os.environ.update({"DATABOOK_HOME": str(settings.home), "DATABOOK_SOURCE_URL":
                           settings.source_url, "DATABOOK_ROLL_URL": settings.roll_url,
                           "DATABOOK_DROP": str(settings.drop)})
        from expectations.gx_run import start_in_background
        from flows.nightly import nightly

        start_in_background()  # GX imports in its own process while the server starts
        took = server_ready()
        with nullcontext() if took is None else temporary_server.without_heartbeats():
            published = nightly(as_at=plan.as_at, accept_drift=plan.accept_drift,
                                drift_tolerance=plan.drift_tolerance,
                                task_runner_kind=plan.task_runner_kind,
                                dask_address=plan.dask_address, run_id=run_id,
                                changed_only=plan.changed_only)
    if took is not None:
        temporary_server.drain()
        log.info(FAST_WAY, took)
    return published


#: Said after a run that started Prefect's temporary server (the first run on a fresh machine,
#: ``make demo``): the fast way, as a council runs it.
FAST_WAY = ("Prefect's temporary server took %.1f s of this run to start; runs start that "
            "much sooner against a running one (docs/how-to/nightly-operations.md): "
            "`make prefect-server`, then PREFECT_API_URL=http://127.0.0.1:4200/api databook run")
