"""The change-count check: a Changes sheet that does not add up blocks publishing."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pandas as pd
import pytest

from expectations import frames, suites
from expectations.gx_run import Outcome, validate
from expectations.suites import Suite
from schemas.changes import BALANCE_COLUMNS
from schemas.databook import KEYS
from tests.support import AS_AT
from transform import Rules
from transform.row_changes import Previous, balance, school_changes

RULES = Rules(as_at=AS_AT)
WITHHELD = RULES.withheld_address


def _row(upn: str) -> tuple[str | date | None, ...]:
    values = {"upn": upn, "name": "Test Child", "cp_current": "N", "cp_previous": "N",
              "lac_current": "N", "cin_current": "N", "dv_notification": "N"}
    return tuple(values.get(k) for k in KEYS)


def _line(urn: int, manifest_rows: int, before: int, after: int) -> dict[str, int]:
    """A school whose previous workbook read back ``before`` rows while its signed manifest
    says ``manifest_rows``; ``after`` rows today, half of them new."""
    old = [_row(f"P{urn}{i:06d}") for i in range(before)]
    new = old[: after // 2] + [_row(f"N{urn}{i:06d}") for i in range(after - after // 2)]
    counted = school_changes(Previous("r", AS_AT, manifest_rows), old, new, WITHHELD)
    line = balance(urn, counted, len(new))
    assert line is not None
    return line


@pytest.fixture(scope="module")
def outcome(tmp_path_factory: pytest.TempPathFactory) -> Outcome:
    (suite,) = suites.load("changes", RULES)
    good = frames.balance_frame([_line(1, 6, 6, 4), _line(2, 0, 0, 3), _line(3, 5, 5, 5)])
    short_read = frames.balance_frame([_line(1, 6, 6, 4), _line(4, 7, 6, 6)])
    twice = frames.balance_frame([_line(1, 6, 6, 4), _line(1, 6, 6, 4)])
    batches = [(suite, good), (Suite("case.empty", "case.empty", suite.expectations),
                               frames.balance_frame([])),
               (Suite("case.short_read", "case.short_read", suite.expectations), short_read),
               (Suite("case.twice", "case.twice", suite.expectations), twice)]
    return validate(batches, {}, Path(tmp_path_factory.mktemp("gx")))


def failed(outcome: Outcome, suite: str) -> set[str]:
    return {c.expectation for c in outcome.blocking_failures if c.suite == suite}


def test_balanced_schools_and_no_previous_databooks_pass(outcome: Outcome) -> None:
    assert failed(outcome, "changes") == set()
    assert failed(outcome, "case.empty") == set()


def test_a_workbook_that_read_back_short_blocks(outcome: Outcome) -> None:
    assert failed(outcome, "case.short_read") == {"expect_column_pair_values_to_be_equal"}


def test_a_school_counted_twice_blocks(outcome: Outcome) -> None:
    assert failed(outcome, "case.twice") == {"expect_column_values_to_be_unique"}


def test_every_check_is_blocking_and_sees_counts_only() -> None:
    (suite,) = suites.load("changes", RULES)
    assert {e["severity"] for e in suite.expectations} == {"critical"}
    assert set(suite.columns) <= set(BALANCE_COLUMNS)
    frame = frames.balance_frame([_line(1, 2, 2, 2)])
    assert list(frame.columns) == list(BALANCE_COLUMNS)
    assert all(pd.api.types.is_integer_dtype(t) for t in frame.dtypes)
