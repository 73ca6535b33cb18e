"""A school's workbook read back: text stays text, dates are dates, nothing else gets in."""

from __future__ import annotations

import io
from datetime import UTC, date, datetime

import pytest
from msoffcrypto.exceptions import InvalidKeyError
from openpyxl import load_workbook

from publish.encrypt import encrypt
from publish.workbook import RunInfo, School, Value, render
from schemas.databook import COLUMNS, HEADERS
from tests.support import OLE_MAGIC, formula_cells, open_encrypted, sheet_values

RUN = RunInfo("20261121T020000.000000Z-abc123", date(2026, 11, 21),
              datetime(2026, 11, 21, 2, 0, tzinfo=UTC), "Starting Point", "01629 533190")
SCHOOL = School(112000, "830/2000", "=Evil School")
RISKY = ["=HYPERLINK(\"http://example.invalid\",\"x\")", "+44", "-Sam", "@SUM(A1)", "#N/A"]


def row(name: str, born: date | None = date(2015, 3, 1)) -> tuple[Value, ...]:
    values: list[Value] = [None] * len(COLUMNS)
    keys = [c.key for c in COLUMNS]
    values[keys.index("upn")] = "B801200005001"
    values[keys.index("name")] = name
    values[keys.index("date_of_birth")] = born
    values[keys.index("cp_current")] = "N"
    return tuple(values)


def test_text_that_looks_like_a_formula_or_error_stays_literal_text() -> None:
    plain = render(SCHOOL, [row(n) for n in RISKY], RUN)
    assert formula_cells(plain) == []
    wb = load_workbook(io.BytesIO(plain))
    names = [wb["Databook"].cell(r, 2) for r in range(2, 2 + len(RISKY))]
    assert [c.value for c in names] == RISKY
    assert all(c.data_type == "s" and c.quotePrefix for c in names)
    assert wb["About"]["B3"].value == "=Evil School"


def test_header_dates_freeze_and_filter() -> None:
    plain = render(SCHOOL, [row("Siân O'Brien"), row("No Birthday", None)], RUN)
    wb = load_workbook(io.BytesIO(plain))
    ws = wb["Databook"]
    assert [c.value for c in ws[1]] == list(HEADERS)
    assert ws["C2"].is_date and ws["C2"].number_format == "dd/mm/yyyy"
    assert ws["C3"].value is None
    assert ws.freeze_panes == "A2"
    assert ws.auto_filter.ref == "A1:S3"
    assert ws.max_column == len(COLUMNS)
    assert ws.column_dimensions["D"].width >= 40


def test_control_characters_are_dropped_not_crashing() -> None:
    plain = render(SCHOOL, [row("Tab\x0bby\x00")], RUN)
    assert load_workbook(io.BytesIO(plain))["Databook"]["B2"].value == "Tabby"


def test_a_school_with_no_known_pupils_gets_a_file_that_says_so() -> None:
    wb = load_workbook(io.BytesIO(render(SCHOOL, [], RUN)))
    assert [r for r in wb["Databook"].iter_rows(values_only=True)] == [tuple(HEADERS)]
    about = dict(r[:2] for r in wb["About"].iter_rows(values_only=True) if r[0])
    assert about["In this databook"].startswith("No pupils on your roll are known")
    assert about["URN"] == "112000" and about["DfE number"] == "830/2000"
    assert about["Run"] == RUN.run_id
    assert "Starting Point" in about["Notice"] and "01629 533190" in about["Contact"]
    for column in COLUMNS:
        assert about[column.header] == column.meaning


def test_encrypted_file_opens_only_with_its_password() -> None:
    data = encrypt(render(SCHOOL, [row("Ann Example")], RUN), "right-password-12345")
    assert data.startswith(OLE_MAGIC)
    assert b"Ann Example" not in data
    with pytest.raises(InvalidKeyError):
        open_encrypted(data, "wrong-password-12345")
    wb, _ = open_encrypted(data, "right-password-12345")
    assert sheet_values(wb, "Databook")[1][1] == "Ann Example"


def test_the_formula_guard_refuses_a_workbook_that_holds_one() -> None:
    import openpyxl

    from publish.workbook import refuse_formulas

    wb = openpyxl.Workbook()
    wb.active["A1"] = "=1+1"
    buffer = io.BytesIO()
    wb.save(buffer)
    with pytest.raises(ValueError, match=r"formula reached xl/worksheets/sheet1\.xml"):
        refuse_formulas(buffer.getvalue())
    refuse_formulas(render(SCHOOL, [row(n) for n in RISKY], RUN))  # ours never do


def test_markup_and_edge_spaces_in_source_text_come_back_exactly() -> None:
    tricky = ["A & B <School>", "  leading and trailing  ", "quote \" and ' apostrophe",
              "]]> </t></is></c>", "Zoë Ł 北京"]
    plain = render(School(112000, "830/2000", tricky[0]), [row(n) for n in tricky], RUN)
    wb = load_workbook(io.BytesIO(plain))
    assert [wb["Databook"].cell(r, 2).value for r in range(2, 2 + len(tricky))] == tricky
    assert wb["About"]["B3"].value == tricky[0]


def test_the_writer_refuses_a_value_that_is_neither_text_nor_a_date() -> None:
    bad = list(row("Ann Example"))
    bad[0] = 12345  # type: ignore[call-overload]
    with pytest.raises(TypeError, match="text, a date or empty"):
        render(SCHOOL, [tuple(bad)], RUN)


def test_the_same_rows_make_the_same_bytes() -> None:
    """No clock or random in the package: a re-render is byte-identical (useful for digests
    and for telling real changes from noise)."""
    rows = [row("Ann Example"), row("Bob Example", None)]
    assert render(SCHOOL, rows, RUN) == render(SCHOOL, rows, RUN)
