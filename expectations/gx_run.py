"""Run the resolved suites with Great Expectations and build Data Docs for this run.

Each run gets its own in-memory (ephemeral) context whose only file output is the Data Docs
site inside the run's report folder, so Data Docs hold exactly this run's results and never
slow down as history piles up. (A file context rewrote its YAML configuration and a JSON
store entry for every batch, suite and result: about a third of the validation's time on the
600-school county under a profiler, for files nobody read but the Data Docs builder.) Results
are requested in BASIC form with no unexpected values copied, and the frames hold no personal
details anyway.

Importing Great Expectations takes seconds, and its first validation in a process seconds
more than the next; ``import_in_background`` does both on a thread while the run does other
work (``validate`` then waits for it, if it has not finished).
"""

from __future__ import annotations

import logging
import os
import sys
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from expectations.suites import CRITICAL, Suite

log = logging.getLogger(__name__)
RESULT_FORMAT = {"result_format": "BASIC", "partial_unexpected_count": 0}
SITE = ("gx", "uncommitted", "data_docs", "local_site")
_importing: list[threading.Thread] = []


def _import_gx() -> None:
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
    logging.getLogger("great_expectations").setLevel(logging.WARNING)  # chatty at import
    import great_expectations  # noqa: F401
    from great_expectations.data_context.types.base import DataContextConfig  # noqa: F401


def import_in_background() -> None:
    """Start importing Great Expectations on a daemon thread (once per process); a failure
    there is left for ``validate``'s own import to report."""
    if _importing or "great_expectations.data_context" in sys.modules:
        return

    def run() -> None:
        try:
            _import_gx()
            _warm_up()
        except Exception as exc:
            log.debug("background import of Great Expectations failed: %s", type(exc).__name__)

    thread = threading.Thread(target=run, name="import-great-expectations", daemon=True)
    _importing.append(thread)
    thread.start()


def _warm_up() -> None:
    """Every suite once over empty frames, into a throw-away folder: the first validation in a
    process otherwise spends seconds more than the next (metric providers registered, Data Docs
    templates compiled), and on this thread that happens while the run extracts."""
    import tempfile
    from datetime import date

    from expectations.suites import load
    from transform.rules_config import Rules

    rules = Rules(as_at=date.today())
    batches = [(suite, pd.DataFrame({c: pd.Series(dtype="object") for c in suite.columns}))
               for name in ("databook", "findings", "changes", "source")
               for suite in load(name, rules)]
    with tempfile.TemporaryDirectory(prefix="gx-warm-up-") as folder:
        _validate(batches, {"as_at": pd.Timestamp(rules.as_at)}, Path(folder))


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
                "warnings": [c.label for c in self.warnings]}


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
    for thread in _importing:
        thread.join()
    return _validate(batches, parameters, report_dir)


def _validate(batches: Sequence[tuple[Suite, pd.DataFrame]], parameters: Mapping[str, Any],
              report_dir: Path) -> Outcome:
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
    context.build_data_docs()
    index = report_dir.joinpath(*SITE, "index.html")
    return Outcome(checks, index if index.exists() else None)
