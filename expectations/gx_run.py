"""Run the resolved suites with Great Expectations and build Data Docs for this run.

Each run gets its own in-memory (ephemeral) context whose only file output is the Data Docs
site inside the run's report folder, so Data Docs hold exactly this run's results and never
slow down as history piles up. (A file context rewrote its YAML configuration and a JSON
store entry for every batch, suite and result: about a third of the validation's time on the
600-school county under a profiler, for files nobody read but the Data Docs builder.) Results
are requested in BASIC form with no unexpected values copied, and the frames hold no personal
details anyway.

Importing Great Expectations takes about 5 s. ``start_in_background`` imports it in a process
of its own, on the other core, while the run starts Prefect, extracts and transforms;
``submit`` then sends that process the frames (masked and projected: no child's details) and
the run renders the workbooks while it validates; publishing waits for the outcome. Measured
on the 600-school county (2-core VM, quiet): a thread importing it, as before, slowed the
transform from 1.6 s to 7 s (pandas releases and retakes the interpreter lock so often that
two busy threads convoy), and warming up by validating empty frames first saved nothing
(4.3 s to validate either way) while keeping the process busy 3.6 s longer.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pandas as pd

from databook import workers
from expectations.suites import CRITICAL, Suite

log = logging.getLogger(__name__)
RESULT_FORMAT = {"result_format": "BASIC", "partial_unexpected_count": 0}
SITE = ("gx", "uncommitted", "data_docs", "local_site")
#: The process ``start_in_background`` is starting, until ``submit`` hands it its one job.
_background: list[Future[ProcessPoolExecutor]] = []


def _import_gx() -> None:
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
    logging.getLogger("great_expectations").setLevel(logging.WARNING)  # chatty at import
    import great_expectations  # noqa: F401
    from great_expectations.data_context.types.base import DataContextConfig  # noqa: F401


def _import_quietly() -> None:
    try:
        _import_gx()
    except Exception as exc:  # the validation's own import reports it, with its context
        log.debug("importing Great Expectations failed: %s", type(exc).__name__)


def start_in_background() -> None:
    """Start a process that imports Great Expectations, for ``submit`` to use (once per
    process until then; ``databook.workers``: it ends with this process, even a killed one).
    Started from a thread: starting the forkserver itself takes the caller a moment it can
    spend on the extract."""
    if _background:
        return
    started: Future[ProcessPoolExecutor] = Future()

    def start() -> None:
        try:
            pool = workers.pool(1)
            pool.submit(_import_quietly)
            started.set_result(pool)
        except BaseException as exc:  # submit validates here instead
            started.set_exception(exc)

    threading.Thread(target=start, name="start-great-expectations", daemon=True).start()
    _background.append(started)


def stop_background() -> None:
    """End the background process if no validation used it (a run that failed before)."""
    while _background:
        _background.pop().add_done_callback(_shut_down)


def _shut_down(started: Future[ProcessPoolExecutor]) -> None:
    if started.exception() is None:
        started.result().shutdown(wait=False, cancel_futures=True)


def _context(report_dir: Path) -> Any:
    """An in-memory context whose one file output is the Data Docs site under report_dir."""
    import great_expectations as gx
    from great_expectations.data_context.types.base import (
        DataContextConfig,
        InMemoryStoreBackendDefaults,
        ProgressBarsConfig,
    )

    config = DataContextConfig(
        store_backend_defaults=InMemoryStoreBackendDefaults(init_temp_docs_sites=False),
        progress_bars=ProgressBarsConfig(globally=False, metric_calculations=False),
        data_docs_sites={"local_site": {
            "class_name": "SiteBuilder", "show_how_to_buttons": False,
            "store_backend": {"class_name": "TupleFilesystemStoreBackend",
                              "base_directory": str(report_dir.joinpath(*SITE))},
            "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"}}})
    return gx.get_context(mode="ephemeral", project_config=config)


@dataclass(frozen=True)
class Check:
    suite: str
    expectation: str
    column: str
    blocking: bool
    success: bool
    unexpected: int | None

    @property
    def label(self) -> str:
        return f"{self.suite}: {self.expectation}({self.column})" if self.column else (
            f"{self.suite}: {self.expectation}")


@dataclass(frozen=True)
class Outcome:
    checks: list[Check] = field(default_factory=list)
    data_docs: Path | None = None

    @property
    def blocking_failures(self) -> list[Check]:
        return [c for c in self.checks if c.blocking and not c.success]

    @property
    def warnings(self) -> list[Check]:
        return [c for c in self.checks if not c.blocking and not c.success]

    def summary(self) -> dict[str, Any]:
        return {"expectations": len(self.checks),
                "blocking_failures": [c.label for c in self.blocking_failures],
                "warnings": [c.label for c in self.warnings],
                # rows each failing expectation found (counts only), for the report
                "unexpected": {c.label: c.unexpected for c in self.checks
                               if not c.success and c.unexpected is not None}}


def _column(expectation: str, kwargs: Mapping[str, Any]) -> str:
    if expectation.startswith("expect_table_"):
        return ""
    if "column" in kwargs:
        return str(kwargs["column"])
    if "column_A" in kwargs:
        return f"{kwargs['column_A']} >= {kwargs['column_B']}"
    return ", ".join(kwargs.get("column_list", []))


def validate(batches: Sequence[tuple[Suite, pd.DataFrame]], parameters: Mapping[str, Any],
             report_dir: Path) -> Outcome:
    """Validate each (suite, frame) pair; write the results and Data Docs under report_dir."""
    pending = submit(batches, parameters, report_dir)
    return replace(pending.result(), data_docs=pending.data_docs())


@dataclass
class Pending:
    """A validation under way in the background process, or (``job`` None, or that process
    died: killed, out of memory) one that ``result`` runs here: a run never loses it. In the
    background, Data Docs are built after the outcome is sent back (0.85 s for the county),
    while the run renders and publishes; ``data_docs`` waits for them."""

    job: Future[Outcome] | None
    validate_here: Callable[[], Outcome]
    built: Future[Path | None] | None = None
    _fallback: Outcome | None = field(default=None, repr=False)

    def result(self) -> Outcome:
        if self.job is not None and self._fallback is None:
            try:
                return self.job.result()
            except BrokenProcessPool:
                log.warning("the validation process ended unexpectedly; validating in this one")
        if self._fallback is None:
            self._fallback = self.validate_here()
        return self._fallback

    def data_docs(self) -> Path | None:
        """The Data Docs index, once built; None if they could not be."""
        outcome = self.result()
        if self._fallback is not None or self.built is None:
            return outcome.data_docs
        try:
            return self.built.result()
        except Exception as exc:  # the outcome stands; only the human-readable pages are lost
            log.warning("building Data Docs failed (%s)", type(exc).__name__)
            return None


def submit(batches: Sequence[tuple[Suite, pd.DataFrame]], parameters: Mapping[str, Any],
           report_dir: Path) -> Pending:
    """``validate``, started in the background process if there is one (which ends with this
    job, so its memory is free again), else left for ``Pending.result`` to run here."""
    def here() -> Outcome:
        return _validate(batches, parameters, report_dir)

    if not _background:
        return Pending(None, here)
    try:
        pool = _background.pop().result()
    except Exception as exc:
        log.warning("the validation process did not start (%s); validating in this one",
                    type(exc).__name__)
        return Pending(None, here)
    try:
        job = pool.submit(_validate, batches, dict(parameters), report_dir, True)
        built = pool.submit(_build_data_docs, report_dir)
    except BrokenProcessPool:
        log.warning("the validation process had ended; validating in this one")
        return Pending(None, here)
    finally:
        pool.shutdown(wait=False)
    return Pending(job, here, built)


def owner_only(folder: Path) -> None:
    """Every folder under ``folder`` 0700 and every file 0600: the pages name schools and
    counts of findings, state folders are owner-only like the rest of ``$DATABOOK_HOME``."""
    if not folder.is_dir():
        return
    for path in [folder, *folder.rglob("*")]:
        if not path.is_symlink():
            path.chmod(0o700 if path.is_dir() else 0o600)


#: In the background process: the context whose Data Docs ``_build_data_docs`` builds next.
_unbuilt: list[Any] = []


def _build_data_docs(report_dir: Path) -> Path | None:
    context = _unbuilt.pop()
    context.build_data_docs()
    owner_only(report_dir / SITE[0])  # Great Expectations writes under the umask (0644)
    index = report_dir.joinpath(*SITE, "index.html")
    return index if index.exists() else None


def _validate(batches: Sequence[tuple[Suite, pd.DataFrame]], parameters: Mapping[str, Any],
              report_dir: Path, docs_later: bool = False) -> Outcome:
    """The checks, and Data Docs now, or (``docs_later``, in the background process) when
    ``_build_data_docs`` is called next."""
    _import_gx()
    import great_expectations as gx
    from great_expectations.core.expectation_suite import ExpectationSuite

    report_dir.mkdir(parents=True, exist_ok=True)
    context = _context(report_dir)
    source = context.data_sources.add_pandas("frames")
    checks: list[Check] = []
    for suite, frame in batches:
        batch = source.add_dataframe_asset(suite.batch).add_batch_definition_whole_dataframe(
            "whole")
        gx_suite = context.suites.add(ExpectationSuite(name=suite.name,
                                                       expectations=suite.expectations))
        definition = context.validation_definitions.add(
            gx.ValidationDefinition(name=suite.name, data=batch, suite=gx_suite))
        result = definition.run(batch_parameters={"dataframe": frame},
                                expectation_parameters=dict(parameters),
                                result_format=RESULT_FORMAT)
        # Results do not come back in suite order: label each from its own configuration.
        for item in result.results:
            config = item.expectation_config
            assert config is not None  # GX always reports the configuration it ran
            severity = str(getattr(config.severity, "value", config.severity)).lower()
            checks.append(Check(
                suite=suite.name, expectation=config.type,
                column=_column(config.type, config.kwargs), blocking=severity == CRITICAL,
                success=bool(item.success),
                unexpected=item.result.get("unexpected_count")))
    _unbuilt.append(context)
    return Outcome(checks) if docs_later else Outcome(checks, _build_data_docs(report_dir))
