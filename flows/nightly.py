"""The nightly run: extract -> transform -> validate -> publish, as a Prefect flow.

This module only wires plain functions together. Every task touches case data, so every task
has caching off and result persistence off, and no child's details reach Prefect's database or
result storage; what is logged and returned is counts, ids and paths.
"""

from __future__ import annotations

import sys
import time
from concurrent.futures import Executor
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, TypeVar, cast
from uuid import UUID

from prefect import Task, flow, get_run_logger, task, unmapped
from prefect.cache_policies import NO_CACHE
from prefect.client.schemas.objects import TaskRun
from prefect.futures import PrefectFuture
from prefect.states import State
from prefect.task_runners import TaskRunner
from prefect.utilities.annotations import quote
from sqlalchemy.exc import SQLAlchemyError

from databook import alerts
from databook.drop import RUN_ID, ManifestError
from databook.faults import StageFailed, contained, describe
from databook.ledger.config import from_settings
from databook.ledger.note import Signer, cosigner
from databook.ledger.witness import WitnessError
from databook.ledger.witness import run as run_witness
from databook.runlog import attach_run_log
from expectations.frames import balance_frame
from expectations.gate import PublishBlocked, Verdict, judge, start_validation
from expectations.gx_run import Pending, start_in_background, stop_background
from expectations.partner_frame import partner_frame
from extract import SourceData, SourceError, read_sources
from flows import data_quality, recovery
from flows.changed_only import (
    amendable,
    compare_latest,
    nothing_changed,
    nothing_to_publish,
    publish_changed,
    tell_schools,
    to_render,
)
from flows.delivery import push_step
from flows.partners import PartnerPlan, prepare_partners
from flows.run_lock import run_lock
from flows.runners import fan_out
from flows.settings import NightlySettings, SettingsError, load, today_in_london
from publish.drop import (
    SchoolFile,
    Signing,
    batches,
    lookup_keys,
    new_run_id,
    publish_run,
    render_many,
    school_files,
    school_keys,
)
from publish.errors import KeystoreError, PublishError
from publish.keystore import Keystore
from publish.previous import Comparison
from publish.report import write_run_record
from publish.run_records import prune_run_records
from publish.workbook import RunInfo
from quality import report
from schemas.changes import MANIFEST_CHANGED
from transform import Databook, Rules, build_databook
from transform.errors import DataError

BATCHES_PER_WORKER = 4
#: Errors whose text is written to be safe (names tables, settings, files, ids; never a value):
#: they pass a stage's boundary as they are. Anything else is contained (databook.faults).
SAFE: tuple[type[Exception], ...] = (SourceError, DataError, PublishError, ManifestError,
                                     KeystoreError, SettingsError, PublishBlocked)


def _transient(task: Task[..., object], task_run: TaskRun, state: State[object]) -> bool:
    """Retry a connection that dropped, not a table that is missing."""
    try:
        state.result()
    except SourceError as exc:
        return exc.transient
    except Exception:
        return False
    return False


@task(retry_condition_fn=_transient, cache_policy=NO_CACHE, persist_result=False)
@contained("extract", SAFE)
def extract_sources(settings: NightlySettings) -> SourceData:
    data = read_sources(settings.source_url, settings.roll_url, settings.extract_filters())
    get_run_logger().info("extracted %d rows from %d tables", sum(data.row_counts.values()),
                          len(data.row_counts))
    return data


@task(cache_policy=NO_CACHE, persist_result=False)
@contained("transform", SAFE)
def transform_sources(data: SourceData, rules: Rules) -> Databook:
    book = build_databook(data, rules)
    get_run_logger().info("databook: %s", book.summary())
    return book


@task(cache_policy=NO_CACHE, persist_result=False)
@contained("validate", SAFE)
def begin_validation(book: Databook, data: SourceData, rules: Rules, report_dir: Path,
                     comparison: Comparison, partners: PartnerPlan | None = None) -> Pending:
    """Start the suites (with the Changes sheets' change count and the partner files' check)
    in Great Expectations' own process; ``validate_databook`` waits for the outcome."""
    files = partners.files if partners is not None else []
    return start_validation(book, data, rules, report_dir,
                            balance_frame(comparison.balance_lines()),
                            partner_frame(book.rows, files) if files else None)


@task(cache_policy=NO_CACHE, persist_result=False)
@contained("validate", SAFE)
def validate_databook(pending: Pending, book: Databook, settings: NightlySettings,
                      accept_drift: str | None, comparison: Comparison) -> Verdict:
    """The suites' outcome and the drift gate, against the run ``compare_latest`` verified
    (``latest``'s, else the newest signed one, with a note saying so for the report)."""
    outcome = pending.result()
    previous = None if comparison.latest is None else dict(comparison.latest.document)
    verdict = judge(outcome, book, previous, settings.thresholds, accept_drift,
                    note=comparison.note)
    get_run_logger().info("validation: %d expectations, %d blocking failure(s), %d warning(s), "
                          "%d drift change(s)", len(outcome.checks),
                          len(outcome.blocking_failures), len(outcome.warnings),
                          len(verdict.changes))
    return verdict


@task(cache_policy=NO_CACHE, persist_result=False)
@contained("render", SAFE)
def render_batch(batch: Batch, run: RunInfo,
                 pool: Executor | None = None) -> list[tuple[str, bytes]]:
    """Render and encrypt a batch of schools' workbooks; only encrypted bytes come back."""
    return render_many(batch.files, run, pool)


class Batch:
    """One task's schools, as a plain object rather than a list.

    Prefect visits every element of a list or dataclass argument (each value of ~50,000 rows),
    and Dask rebuilds tuples in task arguments, which strips Prefect's ``quote`` wrapper; neither
    looks inside a plain object, on any task runner."""

    __slots__ = ("files",)

    def __init__(self, files: list[SchoolFile]) -> None:
        self.files = files


T = TypeVar("T")


def opaque(value: T) -> T:
    """A task argument Prefect passes on without looking inside: it otherwise visits every
    element of every argument twice (each value of each row of ~50,000 rows, about 7 s a
    night; the comparison with the latest run, whose manifest lists ~50,000 pseudonyms, 0.5
    to 0.8 s for each of the four tasks it is passed to)."""
    return cast(T, quote(value))


def render_all(groups: list[list[SchoolFile]], run: RunInfo,
               runner: TaskRunner[PrefectFuture[Any]],
               pool: Executor | None) -> list[tuple[str, bytes]]:
    """The fan-out: one task per batch of schools, on the task runner this run chose.

    Deliberately not a subflow: Prefect stores a flow's parameters in its database, and these
    batches hold children's rows and schools' passwords. Task inputs are not stored."""
    with runner.duplicate() as active:
        # The base TaskRunner.map is typed for async tasks only; this task is synchronous.
        mapped = active.map(render_batch,  # type: ignore[arg-type]
                            {"batch": [Batch(g) for g in groups], "run": unmapped(run),
                             "pool": unmapped(pool)})
        futures = cast(list[PrefectFuture[list[tuple[str, bytes]]]], mapped)
        return [pair for future in futures for pair in future.result()]


@task(cache_policy=NO_CACHE, persist_result=False)
@contained("prepare", SAFE)
def prepare_files(book: Databook, settings: NightlySettings, comparison: Comparison,
                  amend: bool = False) -> list[SchoolFile]:
    """The files to render, each with its Changes sheet; for an amendment, the changed
    schools' only."""
    keystore = Keystore.open(settings.home, settings.master_key)
    keys = school_keys(keystore, book.schools["urn"], settings.publish_workers)
    lookups = lookup_keys(keystore, book.schools["urn"], settings.publish_workers)
    files = school_files(book.schools, book.rows, keys, lookups, keystore.pseudonymiser())
    return to_render(list(files), comparison, amend)


@task(cache_policy=NO_CACHE, persist_result=False)
@contained("publish", SAFE)
def publish_databook(files: list[SchoolFile], encrypted: list[tuple[str, bytes]],
                     settings: NightlySettings, run: RunInfo, source_rows: dict[str, int],
                     extra: dict[str, Any], partners: PartnerPlan | None = None) -> str:
    keystore = Keystore.open(settings.home, settings.master_key)
    store = settings.open_drop()
    try:
        run_id = publish_run(store, run, files, Signing.from_keystore(keystore), source_rows,
                             keep=settings.keep_runs, extra=extra, encrypted=encrypted,
                             partners=partners.files if partners is not None else ())
        folder = f"{store.describe()}/{run_id}"
    finally:
        store.close()
    get_run_logger().info("published %d school files and a signed manifest to %s",
                          len(files), folder)
    return folder


@task(cache_policy=NO_CACHE, persist_result=False)
@contained("witness", (*SAFE, WitnessError))
def witness_ledger(settings: NightlySettings) -> str:
    """Co-sign the portal ledger's latest checkpoint with the keystore's witness key, after
    checking it extends the last one co-signed (``databook.ledger.witness.run``). Skipped, and
    says why, where the portal database is not reachable or ``witness = false``; a rewritten,
    truncated or forked ledger fails this task (one line, and an alert)."""
    config = from_settings(settings)

    def witness_key() -> Signer:
        key = Keystore.open(settings.home, settings.master_key).witness_key()
        return cosigner(config.witness_name, bytes.fromhex(key.private_hex))

    outcome = run_witness(settings, config, witness_key, skip_unreachable=True)
    logger = get_run_logger()
    # A witness that cannot run is a warning (and an alert, sent by run_witness), never INFO.
    (logger.warning if outcome.status == "skipped" else logger.info)("%s", outcome.message)
    return outcome.status


def _witness(settings: NightlySettings) -> str:
    """The witness, whatever became of the databook: its failure is recorded and alerted but
    never undoes a publish nor hides the run's own error."""
    try:
        state = witness_ledger(settings, return_state=True)
        outcome = state.result(raise_on_failure=False)
    except Exception as exc:
        outcome = exc
    if isinstance(outcome, BaseException):
        line = describe(outcome, (*SAFE, WitnessError, StageFailed))
        get_run_logger().error("ledger witness failed: %s", line)
        return f"failed: {line}"
    return str(outcome)


@flow(name="nightly-databook", persist_result=False, validate_parameters=True)
def nightly(as_at: date | None = None, accept_drift: str | None = None,
            drift_tolerance: float | None = None, task_runner_kind: str = "auto",
            dask_address: str | None = None, run_id: str | None = None,
            changed_only: bool = False) -> str:
    """Publish every open school's databook for ``as_at`` (default: the run's date in
    Europe/London) unless validation or the drift gate blocks it.

    ``changed_only`` publishes an amendment of the latest run of the same date holding new
    files for the schools whose rows changed (every other file carried over byte for byte),
    or nothing at all when no school changed;

    ``accept_drift`` publishes despite drift, with the reason signed into the manifest;
    ``drift_tolerance`` overrides the county-wide drift threshold (a fraction, e.g. 0.2);
    ``task_runner_kind`` is auto (processes for large councils, threads for small ones),
    processes, threads, or dask (with ``dask_address``); ``run_id`` is the id the command line
    already recorded as running (a scheduled run makes its own).
    """
    return _run(as_at, accept_drift, drift_tolerance, task_runner_kind, dask_address, run_id,
                changed_only)


@contained("run", SAFE)
def _run(as_at: date | None, accept_drift: str | None, drift_tolerance: float | None,
         task_runner_kind: str, dask_address: str | None, run_id: str | None,
         changed_only: bool = False) -> str:
    settings = load()
    if drift_tolerance is not None:
        settings = settings.with_county_change(drift_tolerance)
    if run_id is not None and not RUN_ID.match(run_id):
        raise SettingsError("the run id must look like 20261121T020003.512345Z-1a2b3c")
    as_at = as_at or today_in_london()
    run_id = run_id or new_run_id()
    # One run at a time, from the command line or any deployment: a second run stops here,
    # naming the run that holds the lock, before it records or publishes anything.
    with run_lock(settings.home, run_id):
        return _run_locked(settings, as_at, accept_drift, task_runner_kind, dask_address,
                           run_id, changed_only)


def _run_locked(settings: NightlySettings, as_at: date, accept_drift: str | None,
                task_runner_kind: str, dask_address: str | None, run_id: str,
                changed_only: bool) -> str:
    rules = settings.rules_for(as_at)
    run = RunInfo(run_id, as_at, datetime.now(UTC), rules.starting_point_name,
                  rules.starting_point_phone, settings.protective_marking)
    report_dir = settings.runs_dir / run.run_id
    started = time.monotonic()
    record: dict[str, Any] = {"run_id": run.run_id, "as_at": as_at.isoformat(),
                              "started_at": run.extracted_at.isoformat(), "status": "running",
                              "report": str(report_dir / report.REPORT_FILE),
                              **recovery.this_process(), **_engine()}
    # Recorded before any work, so a run killed at any moment is found by the next one.
    write_run_record(settings.runs_dir, run.run_id, record)
    attach_run_log(report_dir)
    logger = get_run_logger()
    _announce_crashes(settings)
    logger.info("run %s for %s", run.run_id, as_at.isoformat())
    _mark_orphaned_flow_runs(settings.runs_dir)
    book: Databook | None = None
    verdict: Verdict | None = None
    pending: Pending | None = None
    start_in_background()  # Great Expectations imports in its own process meanwhile
    try:
        extract = extract_sources.with_options(retries=len(settings.retry_delays),
                                               retry_delay_seconds=list(settings.retry_delays))
        data = extract(settings)
        record["source_rows"] = data.row_counts
        book = transform_sources(data, rules)
        record["summary"] = book.summary()
        record["findings"] = book.finding_counts()
        comparison = compare_latest(book, rules, settings)
        record["changed_schools"] = len(comparison.changed)
        # Judged on the day the files are published, whatever date the data is as at.
        partners = prepare_partners(book, settings, opaque(comparison), today_in_london(),
                                    rules.withheld_address)
        record["partners"] = partners.record()
        amend = changed_only and amendable(comparison, as_at)
        if amend and nothing_to_publish(book, comparison) and not partners.changed:
            folder = nothing_changed(settings, comparison)
            record |= {"status": "unchanged", "folder": folder, "schools_published": 0}
            return folder
        # Validation runs in its own process while this one finds each school's key and
        # renders and encrypts the workbooks into memory; nothing is written until it passes
        # (a blocked run drops them). See README, Performance, for the figures.
        pending = begin_validation(book, data, rules, report_dir, opaque(comparison),
                                   opaque(partners))
        files = prepare_files(book, settings, opaque(comparison), amend)
        groups = batches(files, settings.publish_workers * BATCHES_PER_WORKER)
        with fan_out(task_runner_kind, settings.publish_workers, dask_address,
                     schools=len(files)) as (runner, pool):
            encrypted = render_all(groups, run, runner, pool)
        verdict = validate_databook(opaque(pending), book, settings, accept_drift,
                                    opaque(comparison))
        record["validation"] = verdict.summary()
        if verdict.blocked:
            raise PublishBlocked(verdict.reason(report_dir / report.REPORT_FILE))
        extra = verdict.manifest_fields(book.summary()) | {MANIFEST_CHANGED: comparison.changed}
        if amend:
            folder = publish_changed(opaque(files), opaque(encrypted), settings, run,
                                     data.row_counts, extra,
                                     opaque(comparison), [int(u) for u in book.schools["urn"]],
                                     opaque(partners))
        else:
            folder = publish_databook(opaque(files), opaque(encrypted), settings, run,
                                      data.row_counts, extra, opaque(partners))
        tell_schools(settings, files, comparison)
    except PublishBlocked as exc:
        record |= {"status": "blocked", "error": str(exc)}
        raise
    except Exception as exc:
        # Only a safe error's own text, else the type and where: never a value from the data.
        record |= {"status": "failed", "error": describe(exc, (*SAFE, StageFailed))}
        raise
    else:
        record |= {"status": "published", "folder": folder, "schools_published": len(files),
                   **({"amends": comparison.latest.run_id}
                      if amend and comparison.latest else {})}
        return folder
    finally:
        stop_background()  # unused when the run ended before validating (or had nothing to)
        record["duration_s"] = round(time.monotonic() - started, 2)
        if not isinstance(sys.exc_info()[1], KeyboardInterrupt | SystemExit):  # not on Ctrl-C
            if settings.push_drop:  # to the portal host (flows.delivery): never raises
                record["push"] = push_step(settings)
            record["witness"] = _witness(settings)
        findings = None if book is None else book.findings
        tonight = data_quality.record_findings(settings, record, findings)
        write_run_record(settings.runs_dir, run.run_id, record, findings)
        data_quality.write_report(report_dir, record, findings,
                                  None if verdict is None or pending is None
                                  else pending.data_docs(), tonight)
        _prune_run_records(settings)
        if record.get("status") not in ("published", "unchanged"):
            _alert(settings, record)


def _prune_run_records(settings: NightlySettings) -> None:
    """Least data kept: old run records go as the drop's old runs do. A failure to delete is
    said and left for the next run; it never changes this run's outcome."""
    try:
        removed = prune_run_records(settings.runs_dir, settings.run_records_kept)
    except OSError as exc:
        get_run_logger().warning("could not remove old run records (%s); the next run tries "
                                 "again", exc.strerror or type(exc).__name__)
        return
    try:
        data_quality.prune(settings, removed)
    except SQLAlchemyError as exc:
        get_run_logger().warning("could not forget the findings history of %d removed run "
                                 "record(s) (%s)", len(removed), type(exc).__name__)


def _announce_crashes(settings: NightlySettings) -> None:
    """Say first, and alert, that an earlier run crashed (killed, out of memory, the machine
    stopped): nothing inside that run lived to say so."""
    logger = get_run_logger()
    for crashed in recovery.unannounced_crashes(settings.runs_dir):
        logger.warning("the previous run %s crashed: %s", crashed.get("run_id"),
                       crashed.get("error"))
        _alert(settings, crashed)


def _alert(settings: NightlySettings, record: dict[str, Any]) -> None:
    """Send the failure alert and say where it went, or which configured channels failed."""
    logger = get_run_logger()
    sent = alerts.send(settings, record)
    failed = [c for c in alerts.configured(settings) if c not in sent]
    if failed:
        logger.warning("alert NOT sent by: %s (see run.log)%s", ", ".join(failed),
                       f"; sent by: {', '.join(sent)}" if sent else "")
    elif sent:
        logger.info("alert sent to: %s", ", ".join(sent))
    else:
        logger.info("no alert channel configured")


def _engine() -> dict[str, Any]:
    """The Prefect flow run id and the temporary API server's process id, if this process
    started one: what the next run needs to clean up after this one if it is killed."""
    from prefect.runtime import flow_run

    fields: dict[str, Any] = {"flow_run_id": flow_run.id}
    server_module = sys.modules.get("prefect.server.api.server")
    if server_module is not None:
        for server in list(server_module.SubprocessASGIServer._instances.values()):
            if server.server_process is not None:
                fields["server_pid"] = server.server_process.pid
    return fields


def _mark_orphaned_flow_runs(runs_dir: Path) -> None:
    """Flow runs of crashed runs stay RUNNING in Prefect for ever: mark them Crashed."""
    from prefect.client.orchestration import get_client
    from prefect.states import Crashed

    logger = get_run_logger()
    for run_id, flow_run_id in recovery.orphaned_flow_runs(runs_dir):
        try:
            with get_client(sync_client=True) as client:
                state = client.read_flow_run(UUID(flow_run_id)).state
                # A worker marks its dead run Crashed itself (and the crashed-run alert went
                # then): marking it again would send that alert twice.
                if state is None or not state.is_final():
                    client.set_flow_run_state(UUID(flow_run_id), Crashed(
                        message="its process ended without finishing; recorded by a later run"),
                        force=True)
                    logger.info("marked Prefect flow run %s of crashed run %s as Crashed",
                                flow_run_id, run_id)
        except Exception as exc:  # another Prefect database, or gone: nothing left to fix
            logger.warning("could not mark flow run %s of run %s as Crashed (%s)", flow_run_id,
                           run_id, type(exc).__name__)
        recovery.note_marked(runs_dir, run_id)
