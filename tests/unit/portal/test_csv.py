"""The register CSV: every row checked, the first bad one named by line and column, and an
export that imports back unchanged."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from portal.registers.csvio import RegisterError, parse, read_file, to_csv
from portal.registers.record import SchoolRecord
from schemas.registers import ENDED_UNRESOLVED, NO_CONTACT, REGISTER_COLUMNS

TODAY = date(2026, 11, 21)
HEADER = ",".join(REGISTER_COLUMNS)
SIGNED = ("112000,Flagg Nursery School,2025-09-01,Chair of Governors,FGB 2025/14,1.0,"
          "2025-09-01,1.0,2028-09-01,2025-06-01;2025-07-01,in_conversation,")
UNSIGNED = "112017,Ashover Primary School,,,,,,,,01/09/2026;2026-10-01,,no reply"


def csv_of(*rows: str) -> str:
    return "\n".join([HEADER, *rows]) + "\n"


def test_a_good_register_reads_every_field() -> None:
    first, second = parse(csv_of(SIGNED, UNSIGNED), TODAY)
    assert first == SchoolRecord(
        urn=112000, name="Flagg Nursery School", protocol_signed_on=date(2025, 9, 1),
        protocol_signatory_title="Chair of Governors", protocol_minute_ref="FGB 2025/14",
        protocol_version="1.0", agreement_signed_on=date(2025, 9, 1), agreement_version="1.0",
        agreement_review_on=date(2028, 9, 1), letters=(date(2025, 6, 1), date(2025, 7, 1)),
        contact_status="in_conversation", note="")
    assert second.letters == (date(2026, 9, 1), date(2026, 10, 1))  # UK dates accepted
    assert second.contact_status == NO_CONTACT  # blank means no contact yet
    assert second.protocol_signed_on is None


def test_export_then_import_round_trips() -> None:
    records = parse(csv_of(UNSIGNED, SIGNED), TODAY)
    odd = SchoolRecord(urn=123456, name='Quote "and", comma\nnew line', note="ünïcode, ok",
                       contact_status=ENDED_UNRESOLVED, letters=(date(2026, 1, 2),))
    text = to_csv([*records, odd])
    assert text.splitlines()[0] == HEADER
    again = parse(text, TODAY)
    assert again == sorted([*records, odd], key=lambda r: r.urn)
    assert to_csv(again) == text


def test_columns_may_come_in_any_order_but_all_must_be_there() -> None:
    columns = list(reversed(REGISTER_COLUMNS))
    row = dict(zip(REGISTER_COLUMNS, SIGNED.split(","), strict=True))
    text = ",".join(columns) + "\n" + ",".join(row[c] for c in columns) + "\n"
    assert parse(text, TODAY) == parse(csv_of(SIGNED), TODAY)
    with pytest.raises(RegisterError, match=r"^line 1: missing column 'note'"):
        parse(HEADER.removesuffix(",note") + "\n", TODAY)
    with pytest.raises(RegisterError, match=r"^line 1: unknown column 'pupil_name'"):
        parse(HEADER + ",pupil_name\n", TODAY)
    with pytest.raises(RegisterError, match=r"^line 1: a column appears twice"):
        parse(HEADER + ",note\n", TODAY)


def bad(row: str, *before: str) -> str:
    with pytest.raises(RegisterError) as caught:
        parse(csv_of(*before, row), TODAY)
    return str(caught.value)


def cells(**changes: str) -> str:
    values = dict(zip(REGISTER_COLUMNS, SIGNED.split(","), strict=True)) | changes
    return ",".join(values[c] for c in REGISTER_COLUMNS)


@pytest.mark.parametrize(("changes", "message"), [
    ({"urn": "11200"}, "line 3, column urn: '11200' is not a six-digit URN"),
    ({"urn": "abc123"}, "line 3, column urn: 'abc123' is not a six-digit URN"),
    ({"name": ""}, "line 3, column name: is empty"),
    ({"protocol_signed_on": "2026-02-30"},
     "line 3, column protocol_signed_on: '2026-02-30' is not a date"),
    ({"protocol_signed_on": "2027-01-01"},
     "line 3, column protocol_signed_on: '2027-01-01' is in the future"),
    ({"protocol_signatory_title": ""},
     "line 3, column protocol_signatory_title: is needed when the protocol is signed"),
    ({"protocol_version": "v1"}, "line 3, column protocol_version: 'v1' is not a version"),
    ({"protocol_signed_on": ""}, "line 3, column protocol_signed_on: is empty, but"),
    ({"agreement_review_on": ""},
     "line 3, column agreement_review_on: is needed when the agreement is signed"),
    ({"agreement_review_on": "2025-09-01"},
     "line 3, column agreement_review_on: '2025-09-01' is not after the signing date"),
    ({"agreement_version": ""},
     "line 3, column agreement_version: is needed when the agreement is signed"),
    ({"agreement_signed_on": ""}, "line 3, column agreement_signed_on: is empty, but"),
    ({"letters": "2025-06-01;;2025-07-01"}, "line 3, column letters: "),
    ({"letters": "2025-06-01;2025-06-01"}, "line 3, column letters: "),
    ({"letters": "2026-12-25"}, "line 3, column letters: '2026-12-25' is in the future"),
    ({"contact_status": "phoned"},
     "line 3, column contact_status: 'phoned' is not one of no_contact, in_conversation"),
    ({"note": "=HYPERLINK(\"http://x\")"}, "line 3, column note: starts with ="),
    ({"name": "@SUM(A1)"}, "line 3, column name: starts with ="),
    ({"note": "x" * 2001}, "line 3, column note: is longer than 2000"),
])
def test_a_bad_row_is_named_by_line_and_column(changes: dict[str, str], message: str) -> None:
    assert bad(cells(**changes), UNSIGNED).startswith(message)


def test_free_text_is_never_quoted_back_in_an_error() -> None:
    """A note could hold anything, even a child's name: errors name the column only."""
    message = bad(cells(note="-Jonny Smith" + "x" * 10))
    assert "Jonny" not in message
    assert message.startswith("line 2, column note: starts with")


def test_duplicates_extra_cells_and_broken_quotes() -> None:
    assert bad(SIGNED, SIGNED) == "line 3, column urn: 112000 is also on line 2"
    assert bad(SIGNED + ",extra").startswith("line 2: more cells than columns")
    assert bad('112000,"unterminated').startswith("line 2: not valid CSV")


def test_line_numbers_count_lines_of_the_file_not_rows() -> None:
    """A quoted cell spanning lines moves later rows down, as a text editor shows them."""
    multi = cells(note='"two\nlines"')
    assert bad(cells(urn="1"), multi).startswith("line 4, column urn")


def test_empty_inputs() -> None:
    with pytest.raises(RegisterError, match="empty"):
        parse("", TODAY)
    with pytest.raises(RegisterError, match="no schools"):
        parse(csv_of(",,,,,,,,,,,"), TODAY)  # a spreadsheet's blank trailing row is skipped


def test_read_file_takes_excels_bom_and_refuses_other_encodings(tmp_path: Path) -> None:
    saved = tmp_path / "register.csv"
    saved.write_bytes(b"\xef\xbb\xbf" + csv_of(SIGNED).encode())
    assert [r.urn for r in read_file(saved, TODAY)] == [112000]
    saved.write_bytes(csv_of(SIGNED.replace("Flagg", "Fl\xe4gg")).encode("latin-1"))
    with pytest.raises(RegisterError, match="is not UTF-8 text"):
        read_file(saved, TODAY)
    saved.write_text(csv_of(cells(urn="x")))
    with pytest.raises(RegisterError, match=r"line 2, column urn: .*; nothing was imported$"):
        read_file(saved, TODAY)
    with pytest.raises(RegisterError, match="cannot read"):
        read_file(tmp_path / "missing.csv", TODAY)
