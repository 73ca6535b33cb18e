"""The nightly run: extract -> transform -> validate -> publish, as a Prefect flow.

This module only wires plain functions together. Every task touches case data, so every task
has caching off and result persistence off, and no child's details reach Prefect's database or
result storage; what is logged and returned is counts, ids and paths.
"""

from __future__ import annotations

import time
from concurrent.futures import Executor
from dataclasses import replace
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, cast

from prefect import Task, flow, get_run_logger, task, unmapped
from prefect.cache_policies import NO_CACHE
from prefect.client.schemas.objects import TaskRun
from prefect.futures import PrefectFuture
from prefect.states import State
from prefect.task_runners import TaskRunner

from expectations import report
from expectations.gate import PublishBlocked, Verdict, judge, previous_published, validate_run
from extract import SourceData, SourceError, read_sources
from flows import alerts
from flows.runners import fan_out
from flows.settings import Settings, load, today_in_london
from publish.drop import (
    SchoolFile,
    Signing,
    batches,
    new_run_id,
    publish_run,
    render_many,
    school_files,
)
from publish.keystore import Keystore
from publish.report import write_run_record
from publish.workbook import RunInfo
from transform import Databook, Rules, build_databook

BATCHES_PER_WORKER = 4


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
def extract_sources(settings: Settings) -> SourceData:
    data = read_sources(settings.source_url, settings.roll_url, settings.extract_filters())
    get_run_logger().info("extracted %d rows from %d tables", sum(data.row_counts.values()),
                          len(data.row_counts))
    return data


@task(cache_policy=NO_CACHE, persist_result=False)
def transform_sources(data: SourceData, rules: Rules) -> Databook:
    book = build_databook(data, rules)
    get_run_logger().info("databook: %s", book.summary())
    return book


@task(cache_policy=NO_CACHE, persist_result=False)
def validate_databook(book: Databook, data: SourceData, rules: Rules, settings: Settings,
                      report_dir: Path, accept_drift: str | None) -> Verdict:
    outcome = validate_run(book, data, rules, report_dir)
    keys = Keystore.open(settings.home, settings.master_key).public_keys()
    store = settings.open_drop()
    try:
        previous = previous_published(store, keys)
    finally:
        store.close()
    verdict = judge(outcome, book, previous, settings.drift, accept_drift)
    get_run_logger().info("validation: %d expectations, %d blocking failure(s), %d warning(s), "
                          "%d drift change(s)", len(outcome.checks),
                          len(outcome.blocking_failures), len(outcome.warnings),
                          len(verdict.changes))
    return verdict


@task(cache_policy=NO_CACHE, persist_result=False)
def render_batch(batch: list[SchoolFile], run: RunInfo,
                 pool: Executor | None = None) -> list[tuple[str, bytes]]:
    """Render and encrypt a batch of schools' workbooks; only encrypted bytes come back."""
    return render_many(batch, run, pool)


def render_all(groups: list[list[SchoolFile]], run: RunInfo,
               runner: TaskRunner[PrefectFuture[Any]],
               pool: Executor | None) -> list[tuple[str, bytes]]:
    """The fan-out: one task per batch of schools, on the task runner this run chose.

    Deliberately not a subflow: Prefect stores a flow's parameters in its database, and these
    batches hold children's rows and schools' passwords. Task inputs are not stored."""
    with runner.duplicate() as active:
        # The base TaskRunner.map is typed for async tasks only; this task is synchronous.
        mapped = active.map(render_batch,  # type: ignore[arg-type]
                            {"batch": groups, "run": unmapped(run), "pool": unmapped(pool)})
        futures = cast(list[PrefectFuture[list[tuple[str, bytes]]]], mapped)
        return [pair for future in futures for pair in future.result()]


@task(cache_policy=NO_CACHE, persist_result=False)
def prepare_files(book: Databook, settings: Settings) -> list[SchoolFile]:
    keystore = Keystore.open(settings.home, settings.master_key)
    passwords = keystore.ensure_passwords(int(u) for u in book.schools["urn"])
    return list(school_files(book.schools, book.rows, passwords))


@task(cache_policy=NO_CACHE, persist_result=False)
def publish_databook(files: list[SchoolFile], encrypted: list[tuple[str, bytes]],
                     settings: Settings, run: RunInfo, source_rows: dict[str, int],
                     extra: dict[str, Any]) -> str:
    keystore = Keystore.open(settings.home, settings.master_key)
    store = settings.open_drop()
    try:
        run_id = publish_run(store, run, files, Signing.from_keystore(keystore), source_rows,
                             keep=settings.keep_runs, extra=extra, encrypted=encrypted)
        folder = f"{store.describe()}/{run_id}"
    finally:
        store.close()
    get_run_logger().info("published %d school files and a signed manifest to %s",
                          len(files), folder)
    return folder


@flow(name="nightly-databook", persist_result=False, validate_parameters=True)
def nightly(as_at: date | None = None, accept_drift: str | None = None,
            drift_tolerance: float | None = None, task_runner_kind: str = "auto",
            dask_address: str | None = None) -> str:
    """Publish every open school's databook for ``as_at`` (default: the run's date in
    Europe/London) unless validation or the drift gate blocks it.

    ``accept_drift`` publishes despite drift, with the reason signed into the manifest;
    ``drift_tolerance`` overrides the county-wide drift threshold (a fraction, e.g. 0.2);
    ``task_runner_kind`` is auto (processes for large councils, threads for small ones),
    processes, threads, or dask (with ``dask_address``).
    """
    settings = load()
    if drift_tolerance is not None:
        settings = replace(settings, drift=replace(settings.drift, county_change=drift_tolerance))
    as_at = as_at or today_in_london()
    rules = settings.rules_for(as_at)
    run = RunInfo(new_run_id(), as_at, datetime.now(UTC), rules.starting_point_name,
                  rules.starting_point_phone)
    logger = get_run_logger()
    logger.info("run %s for %s", run.run_id, as_at.isoformat())
    report_dir = settings.runs_dir / run.run_id
    started = time.monotonic()
    record: dict[str, Any] = {"run_id": run.run_id, "as_at": as_at.isoformat(),
                              "started_at": run.extracted_at.isoformat(),
                              "report": str(report_dir / report.REPORT_FILE)}
    book: Databook | None = None
    verdict: Verdict | None = None
    try:
        extract = extract_sources.with_options(retries=len(settings.retry_delays),
                                               retry_delay_seconds=list(settings.retry_delays))
        data = extract(settings)
        record["source_rows"] = data.row_counts
        book = transform_sources(data, rules)
        record["summary"] = book.summary()
        record["findings"] = book.finding_counts()
        verdict = validate_databook(book, data, rules, settings, report_dir, accept_drift)
        record["validation"] = verdict.summary()
        if verdict.blocked:
            raise PublishBlocked(verdict.reason(report_dir / report.REPORT_FILE))
        files = prepare_files(book, settings)
        groups = batches(files, settings.publish_workers * BATCHES_PER_WORKER)
        with fan_out(task_runner_kind, settings.publish_workers, dask_address,
                     schools=len(files)) as (runner, pool):
            encrypted = render_all(groups, run, runner, pool)
        folder = publish_databook(files, encrypted, settings, run, data.row_counts,
                                  verdict.manifest_fields(book.summary()))
    except PublishBlocked as exc:
        record |= {"status": "blocked", "error": str(exc)}
        raise
    except Exception as exc:
        record |= {"status": "failed", "error": f"{type(exc).__name__}: {exc}"}
        raise
    else:
        record |= {"status": "published", "folder": folder,
                   "schools_published": len(book.schools)}
        return folder
    finally:
        record["duration_s"] = round(time.monotonic() - started, 2)
        findings = None if book is None else book.findings
        write_run_record(settings.runs_dir, run.run_id, record, findings)
        report.write(report_dir, record, findings,
                     None if verdict is None else verdict.outcome.data_docs)
        if record.get("status") != "published":
            sent = alerts.send(settings, record)
            logger.info("alert sent to: %s", ", ".join(sent) or "no channel configured")
