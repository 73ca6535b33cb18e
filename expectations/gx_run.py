"""Run the resolved suites with Great Expectations and build Data Docs for this run.

Each run gets its own small file context inside its report folder, so Data Docs hold exactly
this run's results and never slow down as history piles up. Results are requested in BASIC
form with no unexpected values copied, and the frames hold no personal details anyway.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from expectations.suites import CRITICAL, Suite

log = logging.getLogger(__name__)
RESULT_FORMAT = {"result_format": "BASIC", "partial_unexpected_count": 0}


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
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
    logging.getLogger("great_expectations").setLevel(logging.WARNING)  # chatty at import
    import great_expectations as gx
    from great_expectations.core.expectation_suite import ExpectationSuite
    from great_expectations.data_context.types.base import ProgressBarsConfig

    report_dir.mkdir(parents=True, exist_ok=True)
    context = gx.get_context(mode="file", project_root_dir=str(report_dir))
    context.variables.progress_bars = ProgressBarsConfig(globally=False,
                                                         metric_calculations=False)
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
    index = report_dir / "gx" / "uncommitted" / "data_docs" / "local_site" / "index.html"
    return Outcome(checks, index if index.exists() else None)
