"""Partners' files from the schools' rows: the cohort, the column mask, the blocking check,
and the nightly side's read of the register (plain SQL on the portal database)."""

from __future__ import annotations

import io
from dataclasses import replace
from datetime import UTC, date, datetime
from pathlib import Path

import pandas as pd
import pytest
from openpyxl import load_workbook
from sqlalchemy.dialects import mssql
from sqlalchemy.orm import Session

from expectations import suites
from expectations.gx_run import Outcome, validate
from expectations.partner_frame import partner_frame
from expectations.suites import Suite
from publish.partner_register import (
    COLUMNS_QUERY,
    PARTNERS_QUERY,
    SCHOOLS_QUERY,
    read_partners,
)
from publish.partners import PartnerFile, digest, partner_files, render, split
from publish.workbook import RunInfo, Value
from schemas.databook import KEYS
from schemas.partners import PARTNER_CHECK_COLUMNS, PartnerRecord
from tests.support import AS_AT
from transform import Rules

RULES = Rules(as_at=AS_AT)
NURSES = PartnerRecord("nurses", "School Nursing", (100001, 100002), ("upn", "cp_current"),
                       date(2026, 1, 1), date(2027, 1, 1))


def _row(upn: str, name: str, cp: str = "N") -> tuple[Value, ...]:
    values: dict[str, Value] = {"upn": upn, "name": name, "cp_current": cp,
                                "principal_address": "1 High St", "social_worker": "A Worker"}
    return tuple(values.get(k) for k in KEYS)


# Child 1 at school 1, child 2 dual-registered at 1 and 2, child 3 at school 3 (not covered).
PLAIN = [_row("A1", "Ann"), _row("B2", "Bob", "Y"), _row("B2", "Bob", "Y"), _row("C3", "Cy")]
URNS = [100001, 100001, 100002, 100003]
PEOPLE = [11, 22, 22, 33]
NAMES = {100001: "North School", 100002: "South School", 100003: "East School"}


def files() -> list[PartnerFile]:
    return partner_files(PLAIN, URNS, PEOPLE, NAMES, [NURSES], {"nurses": "pw"})


def test_a_partner_gets_each_child_of_its_schools_once_with_only_agreed_columns() -> None:
    (item,) = files()
    assert item.person_ids == (11, 22)
    assert item.schools == (("100001", "North School"),
                            ("100001 100002", "North School; South School"))
    for row in item.rows:
        assert {k for k, v in zip(KEYS, row, strict=True) if v is not None} <= {"upn",
                                                                                "cp_current"}
    wb = load_workbook(io.BytesIO(render(item, RunInfo("r", AS_AT, datetime.now(UTC), "SP",
                                                       "01234"))))
    sheet = [tuple(c.value for c in r) for r in wb["Databook"].iter_rows()]
    assert sheet == [("School URN", "School", "UPN", "Child protection (current)"),
                     ("100001", "North School", "A1", "N"),
                     ("100001 100002", "North School; South School", "B2", "Y")]
    about = " ".join(str(c.value) for r in wb["About"].iter_rows() for c in r if c.value)
    assert "signed on 01/01/2026, to be reviewed by 01/01/2027" in about
    assert "1 High St" not in about and "A Worker" not in about


def test_render_refuses_a_row_with_a_column_outside_the_agreement() -> None:
    (item,) = files()
    leaky = replace(item, rows=(PLAIN[0], *item.rows[1:]))
    with pytest.raises(ValueError, match="outside its agreement"):
        render(leaky, RunInfo("r", AS_AT, datetime.now(UTC), "SP", "01234"))


def test_only_a_signed_agreement_not_past_review_is_current() -> None:
    unsigned = replace(NURSES, partner_id="x", dsa_signed_on=None, dsa_review_on=None)
    lapsed = replace(NURSES, partner_id="y", dsa_review_on=date(2026, 11, 20))
    on_review_day = replace(NURSES, partner_id="z", dsa_review_on=AS_AT)
    current, out = split([NURSES, unsigned, lapsed, on_review_day], AS_AT)
    assert [p.partner_id for p in current] == ["nurses", "z"]
    assert [p.partner_id for p in out] == ["x", "y"]


def test_the_digest_follows_what_the_file_shows() -> None:
    (item,) = files()
    key = b"k" * 32
    assert digest(item, key) == digest(replace(item, rows=item.rows[::-1],
                                               schools=item.schools[::-1]), key)
    assert digest(item, key) != digest(replace(item, partner=replace(
        NURSES, columns=("upn",))), key)
    assert digest(item, key) != digest(replace(item, partner=replace(
        NURSES, dsa_review_on=date(2027, 6, 1))), key)


@pytest.fixture(scope="module")
def outcome(tmp_path_factory: pytest.TempPathFactory) -> Outcome:
    (suite,) = suites.load("partners", RULES)
    school_rows = pd.DataFrame({"urn": URNS, "person_id": PEOPLE})
    (good,) = files()
    stranger = replace(good, rows=(*good.rows, good.rows[0]),
                       schools=(*good.schools, good.schools[0]), person_ids=(11, 22, 33))
    wide = replace(good, rows=(PLAIN[0], *good.rows[1:]))

    def case(name: str, item: PartnerFile) -> tuple[Suite, pd.DataFrame]:
        return (Suite(name, name, suite.expectations), partner_frame(school_rows, [item]))

    return validate([(suite, partner_frame(school_rows, [good])),
                     case("case.stranger", stranger), case("case.wide", wide)], {},
                    Path(tmp_path_factory.mktemp("gx")))


def failed(outcome: Outcome, suite: str) -> set[str]:
    return {c.label for c in outcome.blocking_failures if c.suite == suite}


def test_the_partner_check_passes_a_good_file(outcome: Outcome) -> None:
    assert failed(outcome, "partners") == set()


def test_a_child_in_none_of_the_partners_school_files_blocks(outcome: Outcome) -> None:
    assert failed(outcome, "case.stranger") == {
        "case.stranger: expect_column_values_to_be_in_set(check_in_school_files)"}


def test_a_column_outside_the_agreement_blocks(outcome: Outcome) -> None:
    assert failed(outcome, "case.wide") == {
        "case.wide: expect_column_values_to_be_in_set(check_columns_agreed)"}


def test_the_check_is_blocking_and_sees_ids_and_booleans_only() -> None:
    (suite,) = suites.load("partners", RULES)
    assert {e["severity"] for e in suite.expectations} == {"critical"}
    frame = partner_frame(pd.DataFrame({"urn": URNS, "person_id": PEOPLE}), files())
    assert list(frame.columns) == list(PARTNER_CHECK_COLUMNS)
    assert frame["partner"].tolist() == ["nurses", "nurses"]


def test_the_register_queries_compile_for_sql_server() -> None:
    for query in (PARTNERS_QUERY, SCHOOLS_QUERY, COLUMNS_QUERY):
        assert "SELECT" in str(query.compile(dialect=mssql.dialect()))


def test_the_nightly_side_reads_what_the_portal_imported(db_url: str, tmp_path: Path) -> None:
    from databook.database import engine_for
    from portal.migrate import upgrade
    from portal.registers import partner_store

    assert read_partners(f"sqlite:///{tmp_path / 'none.sqlite'}") == []  # no portal yet
    upgrade(db_url, "0003_registers")
    assert read_partners(db_url) == []  # a portal without the partner tables yet
    upgrade(db_url)
    other = PartnerRecord("yot", "YOT", (100003,), ("upn", "name", "cautions"))
    engine = engine_for(db_url)
    try:
        with Session(engine) as s, s.begin():
            partner_store.save(s, [NURSES, other])
    finally:
        engine.dispose()
    assert read_partners(db_url) == [NURSES, other]


def test_a_first_partner_databook_says_so_in_the_partners_words() -> None:
    from transform.row_changes import SchoolChanges

    (item,) = files()
    wb = load_workbook(io.BytesIO(render(replace(item, changes=SchoolChanges(None)),
                                         RunInfo("r", AS_AT, datetime.now(UTC), "SP", "0"))))
    assert wb.sheetnames == ["Databook", "Changes", "About"]
    text = " ".join(str(c.value) for ws in wb for r in ws.iter_rows() for c in r if c.value)
    assert "your organisation's first databook" in text and "your school's" not in text
