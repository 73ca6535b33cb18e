"""``databook``: the command an MI officer (or a newcomer) types.

Progress goes to stderr; the one thing a script needs (the run folder, a password) is the last
line of stdout. Any failure is one line on stderr and a non-zero exit.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from expectations.gate import PublishBlocked
from extract import SourceError
from flows.settings import Settings, SettingsError, load, parse_as_at
from publish.errors import KeystoreError, PublishError

EXPECTED = (SourceError, PublishError, KeystoreError, SettingsError)
BLOCKED = 3  # validation or drift stopped publishing (1 is any other failure)
log = logging.getLogger("databook")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="databook", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)

    def sources(cmd: argparse.ArgumentParser) -> None:
        cmd.add_argument("--source-url", help="case database URL (env DATABOOK_SOURCE_URL)")
        cmd.add_argument("--roll-url", help="school roll URL (env DATABOOK_ROLL_URL)")

    def demo_size(cmd: argparse.ArgumentParser) -> None:
        cmd.add_argument("--schools", type=int, default=12)
        cmd.add_argument("--pupils", type=int, default=3000)
        cmd.add_argument("--seed", type=int, default=2015)
        cmd.add_argument("--as-at", help="reference date for the demo histories (YYYY-MM-DD)")

    run = sub.add_parser("run", help="run the nightly flow once")
    run.add_argument("--as-at", help="the date the databooks describe (default: today, London)")
    run.add_argument("--drop", help="the drop folder (env DATABOOK_DROP)")
    run.add_argument("--accept-drift", metavar="REASON",
                     help="publish despite a drift from the last run; the reason goes into the "
                          "signed manifest")
    run.add_argument("--drift-tolerance", type=float, metavar="FRACTION",
                     help="county-wide drift threshold for this run (default 0.2)")
    run.add_argument("--task-runner", choices=("auto", "processes", "threads", "dask"),
                     default="auto", help="where the per-school work runs (auto: processes "
                     "for 40 schools or more, else threads)")
    run.add_argument("--dask-address", metavar="tcp://HOST:PORT",
                     help="an existing Dask scheduler, with --task-runner dask")
    sources(run)

    data = sub.add_parser("demo-data", help="write the synthetic demo databases")
    demo_size(data)
    sources(data)

    demo = sub.add_parser("demo", help="write the demo databases, then run")
    demo_size(demo)
    demo.add_argument("--drop", help="the drop folder (env DATABOOK_DROP)")

    keys = sub.add_parser("keys", help="school passwords and the master key")
    key_sub = keys.add_subparsers(dest="keys_command", required=True)
    reveal = key_sub.add_parser("reveal", help="print a school's password (last line)")
    reveal.add_argument("urn", type=int)
    key_sub.add_parser("new-master", help="print a new master key for DATABOOK_MASTER_KEY")
    key_sub.add_parser("public", help="print the manifest signing key (PEM)")
    rotate = key_sub.add_parser("rotate", help="rotate a school's password or the signing key")
    which = rotate.add_mutually_exclusive_group(required=True)
    which.add_argument("--school", type=int, metavar="URN")
    which.add_argument("--signing", action="store_true")

    alerting = sub.add_parser("alerts", help="alerts that need the Prefect server")
    alert_sub = alerting.add_subparsers(dest="alerts_command", required=True)
    late = alert_sub.add_parser("install-late", help="create the Prefect automation that posts "
                                "to the webhook when a nightly run is late")
    late.add_argument("--webhook", help="receiver URL (default: DATABOOK_ALERT_WEBHOOK)")

    history = sub.add_parser("runs", help="list recent runs")
    history.add_argument("--limit", type=int, default=20)

    rep = sub.add_parser("report", help="print where a run's data-quality report is")
    which_run = rep.add_mutually_exclusive_group(required=True)
    which_run.add_argument("--latest", action="store_true", help="the most recent run")
    which_run.add_argument("run", nargs="?", help="a run id")

    man = sub.add_parser("manifest", help="check a published run")
    man_sub = man.add_subparsers(dest="manifest_command", required=True)
    verify = man_sub.add_parser("verify", help="check a run's signature and every file's hash")
    verify.add_argument("run", help="a run folder, or a run id in the configured drop")
    verify.add_argument("--public-key", type=Path, help="trusted public key PEM (default: the "
                        "keystore's keys)")
    return p


def _settings(args: argparse.Namespace) -> Settings:
    return load({"source_url": getattr(args, "source_url", None),
                 "roll_url": getattr(args, "roll_url", None),
                 "drop": getattr(args, "drop", None)})


def _generate(settings: Settings, args: argparse.Namespace) -> None:
    from demo import DemoSize, generate

    size = DemoSize(args.schools, args.pupils, args.seed, parse_as_at(args.as_at))
    counts = generate(settings.source_url, settings.roll_url, size)
    log.info("demo data: %d schools, %d enrolments, %d case people", counts["EDU_SCHOOLS"],
             counts["EDU_ENROLMENTS"], counts["DM_PERSONS"])


def _run(settings: Settings, as_at_text: str | None, options: dict[str, Any]) -> str:
    from extract.read import check_sources

    as_at = parse_as_at(as_at_text)
    try:
        check_sources(settings.source_url, settings.roll_url)  # fail fast, before Prefect starts
    except SourceError as exc:
        if not exc.transient:
            raise
        log.warning("%s; the run will retry it", exc)
    # The flow reads its settings from the environment inside the run, so URLs holding
    # passwords are never sent to Prefect as parameters.
    os.environ.update({"DATABOOK_HOME": str(settings.home), "DATABOOK_SOURCE_URL":
                       settings.source_url, "DATABOOK_ROLL_URL": settings.roll_url,
                       "DATABOOK_DROP": str(settings.drop)})
    os.environ.setdefault("PREFECT_HOME", str(settings.home / "prefect"))
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    from flows.nightly import nightly

    # Prefect stops its temporary API server at exit and says so after our last line; that
    # one message is logged on the top-level "prefect" logger, so a filter there drops only it.
    logging.getLogger("prefect").addFilter(
        lambda record: not record.getMessage().startswith("Stopping temporary server"))
    return nightly(as_at=as_at, **options)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(message)s", datefmt="%H:%M:%S")
    for noisy in ("httpx", "httpcore", "uvicorn", "docket", "fakeredis"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    try:
        if args.command == "keys":
            return _keys(args)
        if args.command == "manifest":
            return _verify(args)
        if args.command == "report":
            return _report(args)
        if args.command == "runs":
            return _runs(args)
        if args.command == "alerts":
            return _install_late(args)
        settings = _settings(args)
        if args.command in ("demo-data", "demo"):
            _generate(settings, args)
            if args.command == "demo-data":
                print(settings.demo_dir)
                return 0
        accept = ("demo data regenerated" if args.command == "demo"
                  else getattr(args, "accept_drift", None))
        options = {"accept_drift": accept,
                   "drift_tolerance": getattr(args, "drift_tolerance", None),
                   "task_runner_kind": getattr(args, "task_runner", "auto"),
                   "dask_address": getattr(args, "dask_address", None)}
        if options["task_runner_kind"] == "dask" and not options["dask_address"]:
            raise SettingsError("--task-runner dask needs --dask-address tcp://HOST:PORT")
        print(_run(settings, getattr(args, "as_at", None), options))
        return 0
    except PublishBlocked as exc:
        print(f"databook: {exc}", file=sys.stderr)
        return BLOCKED
    except EXPECTED as exc:
        print(f"databook: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("databook: interrupted; nothing was published by this run", file=sys.stderr)
        return 130


def _keys(args: argparse.Namespace) -> int:
    from cryptography.fernet import Fernet

    from publish.keystore import Keystore
    from publish.rotate import rotate_school, rotate_signing

    if args.keys_command == "new-master":
        print(Fernet.generate_key().decode())
        return 0
    settings = load()
    keystore = Keystore.open(settings.home, settings.master_key)
    if args.keys_command == "reveal":
        print(keystore.password(args.urn))
    elif args.keys_command == "public":
        print(keystore.signing_key().public_pem, end="")
    elif args.school is not None:
        store = settings.open_drop()
        try:
            run_id = rotate_school(store, keystore, args.school, settings.keep_runs)
        finally:
            store.close()
        log.info("school %s has a new password; run %s re-publishes its file under it (older "
                 "runs keep the old password until retention deletes them)", args.school, run_id)
        print(run_id)
    else:
        store = settings.open_drop()
        try:
            print(rotate_signing(store, keystore))
        finally:
            store.close()
    return 0


def _install_late(args: argparse.Namespace) -> int:
    webhook = args.webhook or load().alert_webhook
    if not webhook:
        raise SettingsError("give --webhook URL or set DATABOOK_ALERT_WEBHOOK")
    if not os.environ.get("PREFECT_API_URL"):
        raise SettingsError("set PREFECT_API_URL to the Prefect server that runs the schedule")
    from flows.automations import install_late_alert

    print(install_late_alert(webhook))
    return 0


def _runs(args: argparse.Namespace) -> int:
    from publish.report import read_run_record

    runs_dir = load().runs_dir
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


def _report(args: argparse.Namespace) -> int:
    from expectations.report import REPORT_FILE

    runs_dir = load().runs_dir
    if args.latest:
        done = sorted(p.parent.name for p in runs_dir.glob(f"*/{REPORT_FILE}"))
        if not done:
            raise SettingsError(f"no run has written a report in {runs_dir} yet")
        run_id = done[-1]
    else:
        run_id = args.run
    path = runs_dir / run_id / REPORT_FILE
    if not path.is_file():
        raise SettingsError(f"there is no report for run {run_id} in {runs_dir}")
    print(path)
    return 0


def _verify(args: argparse.Namespace) -> int:
    from publish import manifest
    from publish.keystore import Keystore
    from publish.store import DropStore, LocalStore

    local = Path(args.run)
    store: DropStore
    if local.is_dir():
        store, run_id = LocalStore(local.resolve().parent), local.resolve().name
    else:
        store, run_id = load().open_drop(), args.run
    if args.public_key:
        pem = args.public_key.read_text()
        keys = {manifest.key_id_of(pem): pem}
    else:
        settings = load()
        keys = Keystore.open(settings.home, settings.master_key).public_keys()
    try:
        document = manifest.verify(store, run_id, keys)
    finally:
        store.close()
    print(f"verified run {run_id}: signature good, {len(document['schools'])} files match")
    return 0


if __name__ == "__main__":
    sys.exit(main())
