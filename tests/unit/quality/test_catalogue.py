"""The plain-English catalogue covers every finding rule and every expectation the product can
raise, and the reference page generated from it is current."""

from __future__ import annotations

from pathlib import Path

from quality import catalogue
from transform.findings import BLOCKING, RULES

PAGE = Path(__file__).parents[3] / "docs" / "reference" / "findings-rules.md"


def test_every_finding_rule_has_a_meaning_a_fix_and_a_group() -> None:
    assert set(catalogue.ENTRIES) == set(RULES)
    for entry in catalogue.ENTRIES.values():
        assert entry.group in catalogue.GROUPS
        assert entry.meaning == RULES[entry.rule] and len(entry.fix) > 30, entry.rule


def test_blocking_rules_come_first() -> None:
    first = sorted(catalogue.ENTRIES, key=catalogue.group_order)[:len(BLOCKING)]
    assert set(first) == set(BLOCKING)
    assert catalogue.group_order("open-case-not-on-roll") < catalogue.group_order(
        "malformed-upn")


def test_every_expectation_the_suites_can_raise_is_explained() -> None:
    checks = catalogue.every_check()
    assert len(checks) > 60  # every suite, every foreach expanded
    for suite, expectation, column in checks:
        explained = catalogue.explain_check(suite, expectation, column)
        assert "expect_" not in explained.meaning and explained.fix, (suite, expectation)
    label = "source.DM_PERSONS: expect_column_values_to_not_be_null(DATE_OF_BIRTH)"
    assert catalogue.explain_label(label).meaning == "Some people have no date of birth"


def test_the_reference_page_is_current() -> None:
    assert PAGE.read_text("utf-8") == catalogue.markdown(), (
        "regenerate it: python -m quality.catalogue > docs/reference/findings-rules.md")


def test_failed_expectations_point_at_the_findings_that_name_their_rows() -> None:
    related = catalogue.related_rule
    assert related("source.DM_PERSONS: expect_column_values_to_not_be_null(DATE_OF_BIRTH)") \
        == ("missing-date-of-birth", "DM_PERSONS")
    assert related("source.DM_CIN_REFERRALS: expect_column_pair_values_a_to_be_greater_than_b"
                   "(CLOSURE_DATE >= REFERRAL_DATE)") == ("end-before-start", "DM_CIN_REFERRALS")
    assert related("findings: expect_column_values_to_be_between(duplicate-key)") == (
        "duplicate-key", "")
    assert related("changes: expect_column_values_to_be_unique(urn)") is None
    for suite, expectation, column in catalogue.every_check():
        label = f"{suite}: {expectation}({column})" if column else f"{suite}: {expectation}"
        found = related(label)
        assert found is None or found[0] in catalogue.ENTRIES, label
