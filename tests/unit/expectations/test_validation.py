"""Validation rules, each proven to catch its own fault on an otherwise good databook."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pandas as pd
import pytest

from expectations import frames, suites
from expectations.drift import Change, Thresholds, compare
from expectations.gx_run import Outcome, validate
from expectations.suites import Suite, SuiteError
from extract import SourceData, read_sources
from tests.support import AS_AT, REPO, Council
from transform import Databook, Rules, build_databook

RULES = Rules(as_at=AS_AT)
Corrupt = Callable[[pd.DataFrame, SourceData], pd.DataFrame]


@pytest.fixture(scope="module")
def good(council: Council) -> tuple[Databook, SourceData]:
    data = read_sources(council.case_url, council.roll_url)
    return build_databook(data, RULES), data


def _first(rows: pd.DataFrame, column: str, value: str) -> int:
    return int(rows.index[rows[column] == value][0])


def extra_column(rows: pd.DataFrame, data: SourceData) -> pd.DataFrame:
    return rows.assign(case_notes="x")


def duplicate_row(rows: pd.DataFrame, data: SourceData) -> pd.DataFrame:
    return pd.concat([rows, rows.iloc[[0]]], ignore_index=True)


def other_schools_child(rows: pd.DataFrame, data: SourceData) -> pd.DataFrame:
    out = rows.copy()
    elsewhere = out["urn"] != out.loc[0, "urn"]
    out.loc[0, "enrolment_id"] = out.loc[elsewhere, "enrolment_id"].iloc[0]
    return out


def flag_not_yes_no(rows: pd.DataFrame, data: SourceData) -> pd.DataFrame:
    return rows.assign(lac_current=rows["lac_current"].where(rows.index != 0, "X"))


def date_after_as_at(rows: pd.DataFrame, data: SourceData) -> pd.DataFrame:
    out = rows.copy()
    out.loc[_first(out, "cp_current", "Y"), "cp_start_date"] = pd.Timestamp("2026-12-01")
    return out


def yes_without_date(rows: pd.DataFrame, data: SourceData) -> pd.DataFrame:
    out = rows.copy()
    out.loc[_first(out, "cin_current", "Y"), "cin_start_date"] = pd.NaT
    return out


def no_with_date(rows: pd.DataFrame, data: SourceData) -> pd.DataFrame:
    out = rows.copy()
    out.loc[_first(out, "dv_notification", "N"), "dv_notification_date"] = pd.Timestamp(
        "2026-01-01")
    return out


def no_phone(rows: pd.DataFrame, data: SourceData) -> pd.DataFrame:
    out = rows.copy()
    out.loc[0, "social_worker_phone"] = pd.NA
    return out


def address_shown_despite_caution(rows: pd.DataFrame, data: SourceData) -> pd.DataFrame:
    out = rows.copy()
    out.loc[out["cautions"].str.contains("not to be disclosed", na=False).idxmax(),
            "principal_address"] = "1 Visible Road"
    return out


CASES: dict[str, tuple[Corrupt, str]] = {
    "extra_column": (extra_column, "expect_table_columns_to_match_ordered_list"),
    "duplicate_row": (duplicate_row, "expect_compound_columns_to_be_unique(urn, person_id)"),
    "other_schools_child": (other_schools_child,
                            "expect_column_values_to_be_in_set(check_on_roll)"),
    "flag_not_yes_no": (flag_not_yes_no, "expect_column_values_to_be_in_set(lac_current)"),
    "date_after_as_at": (date_after_as_at, "expect_column_values_to_be_between(cp_start_date)"),
    "yes_without_date": (yes_without_date, "expect_column_values_to_not_be_null(cin_start_date)"),
    "no_with_date": (no_with_date, "expect_column_values_to_be_null(dv_notification_date)"),
    "no_phone": (no_phone, "expect_column_values_to_not_be_null(social_worker_phone)"),
    "address_shown_despite_caution": (address_shown_despite_caution,
                                      "expect_column_values_to_be_in_set(check_address_withheld)"),
}


@pytest.fixture(scope="module")
def outcome(good: tuple[Databook, SourceData], tmp_path_factory: pytest.TempPathFactory
            ) -> Outcome:
    """One GX context: the good databook, and one corrupted copy per blocking rule."""
    book, data = good
    (suite,) = suites.load("databook", RULES)
    batches = [(suite, frames.databook_frame(book, data, RULES))]
    for name, (corrupt, _) in CASES.items():
        broken = replace(book, rows=corrupt(book.rows, data))
        batches.append((Suite(f"case.{name}", f"case.{name}", suite.expectations),
                        frames.databook_frame(broken, data, RULES)))
    return validate(batches, {"as_at": pd.Timestamp(AS_AT)}, tmp_path_factory.mktemp("gx"))


def failed(outcome: Outcome, suite: str) -> set[str]:
    return {c.label.split(": ", 1)[1] for c in outcome.blocking_failures if c.suite == suite}


def test_the_demo_databook_passes_every_blocking_rule_but_has_warnings(outcome: Outcome) -> None:
    assert failed(outcome, "databook") == set()
    assert any(c.suite == "databook" for c in outcome.warnings)
    assert outcome.data_docs is not None and outcome.data_docs.is_file()


@pytest.mark.parametrize("case", sorted(CASES))
def test_each_blocking_rule_catches_its_fault(outcome: Outcome, case: str) -> None:
    assert CASES[case][1] in failed(outcome, f"case.{case}")


def test_validation_never_sees_a_name_address_birth_date_or_upn(
        good: tuple[Databook, SourceData]) -> None:
    book, data = good
    frame = frames.databook_frame(book, data, RULES)
    names = set(book.rows["name"].dropna())
    for column in frame.columns:
        assert not frame[column].isin(names).any(), column
    assert set(frame["name"].dropna()) == {"*"} and set(frame["upn"].dropna()) == {"*"}
    assert set(frame["principal_address"].dropna()) <= {"*", RULES.withheld_address}
    assert frame["date_of_birth"].isna().all()


def test_data_docs_hold_no_childs_details(outcome: Outcome,
                                          good: tuple[Databook, SourceData]) -> None:
    assert outcome.data_docs is not None
    site = outcome.data_docs.parent
    text = "".join(p.read_text(errors="replace") for p in site.rglob("*.html"))
    text += "".join(p.read_text(errors="replace") for p in site.parents[2].rglob("*.json"))
    book, _ = good
    for value in [*book.rows["name"].dropna().head(200), *book.rows["upn"].dropna().head(200)]:
        assert value not in text


def test_a_suite_naming_a_column_the_schema_lacks_does_not_load() -> None:
    bad = {"expectations": [{"type": "expect_column_values_to_not_be_null",
                             "kwargs": {"column": "case_notes"}}]}
    with pytest.raises(SuiteError, match="names column 'case_notes'"):
        suites.resolve("databook", bad, RULES)
    with pytest.raises(SuiteError, match="unknown vocabulary word"):
        suites.resolve("databook", {"expectations": [{
            "type": "expect_column_values_to_be_in_set",
            "kwargs": {"column": "cp_current", "value_set": "@nope"}}]}, RULES)


def test_value_sets_come_from_the_councils_rules() -> None:
    custom = Rules(as_at=AS_AT, warning_labels={"XYZ": "Custom"})
    spec = next(e for s in suites.load("source", custom) if s.batch == "source.LA_PERSON_WARNINGS"
                for e in s.expectations if e["kwargs"].get("column") == "WARNING_TYPE")
    assert spec["kwargs"]["value_set"] == ["XYZ"]


PREVIOUS: dict[str, Any] = {
    "run_id": "r1",
    "totals": {"children": 500, "cp_current": 100, "lac_current": 50, "cin_current": 200,
               "dv_notification": 40, "cautions": 30},
    "schools": [{"urn": 1, "children": 20}, {"urn": 2, "children": 9},
                {"urn": 3, "children": 30}],
}


def test_drift_flags_county_moves_over_20_percent_and_schools_losing_half() -> None:
    now = {**PREVIOUS["totals"], "cp_current": 79, "cautions": 36}
    changes = compare(PREVIOUS, now, {1: 9, 2: 0, 3: 16}, Thresholds())
    assert changes == [Change("cp_current", 100, 79), Change("school 1 rows", 20, 9)]
    assert changes[0].text == "cp_current 100 -> 79 (-21%)"


def test_no_drift_when_nothing_moved_much_or_without_totals() -> None:
    assert compare(PREVIOUS, dict(PREVIOUS["totals"]), {1: 20, 2: 9, 3: 30}, Thresholds()) == []
    assert compare({"schools": []}, dict(PREVIOUS["totals"]), {}, Thresholds()) == []


def test_benchmark_paths_exist() -> None:
    assert REPO.joinpath("benchmarks", "run.py").is_file()
