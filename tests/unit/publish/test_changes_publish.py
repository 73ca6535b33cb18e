"""The Changes sheet in a workbook, reading a previous workbook back, and amendment runs."""

from __future__ import annotations

import io
from datetime import UTC, date, datetime
from pathlib import Path

import pandas as pd
import pytest
from openpyxl import load_workbook

from databook.drop import LATEST, ManifestError, latest
from databook.store import LocalStore
from publish import manifest
from publish.amend import publish_amendment
from publish.drop import SchoolFile, Signing, publish_run, render_encrypted, school_files
from publish.errors import PublishError
from publish.keystore import Keystore
from publish.previous import Latest, attach, compare, compare_with_latest, read_rows
from publish.workbook import RunInfo, School, render
from schemas.changes import FIRST_DATABOOK, SHEET_CHANGES
from schemas.databook import KEYS
from tests.support import all_text, formula_cells, open_encrypted, sheet_values
from transform.row_changes import Previous, Row, SchoolChanges, rows_digest, school_changes

WITHHELD = "Address withheld \N{EN DASH} contact Starting Point"
RUN = RunInfo("20261121T110500.000000Z-abc123", date(2026, 11, 21),
              datetime(2026, 11, 21, 11, 5, tzinfo=UTC), "Starting Point", "01629 533190")
SCHOOL = School(112000, "830/2000", "A School")
LATER = RunInfo("20261121T120000.000000Z-aaa111", RUN.as_at, RUN.extracted_at, "SP", "0")
EARLIER = Previous("20261121T020000.000000Z-def456", date(2026, 11, 21), 1)
SCHOOLS = pd.DataFrame({"urn": [100, 200, 300], "dfe_number": ["830/1", "830/2", "830/3"],
                        "name": ["A", "B", "C"]})


def row(**values: object) -> Row:
    base: dict[str, object] = {"upn": "B801200005001", "name": "Amy Example",
                               "date_of_birth": date(2015, 3, 1), "principal_address": "1 Road",
                               "case_status": "Closed", "cp_current": "N", "cp_previous": "N",
                               "lac_current": "N", "cin_current": "N", "dv_notification": "N",
                               "social_worker": "Starting Point",
                               "social_worker_phone": "01629 533190"}
    return tuple(values.get(k, base.get(k)) for k in KEYS)  # type: ignore[misc]


def changes_of(xlsx: bytes) -> list[tuple[object, ...]]:
    return sheet_values(load_workbook(io.BytesIO(xlsx)), SHEET_CHANGES)


def test_the_changes_sheet_comes_after_the_databook_and_the_about_sheet_explains_it() -> None:
    counted = school_changes(EARLIER, [row()], [row(cp_start_date=date(2026, 11, 21),
                                                    cp_current="Y")], WITHHELD)
    xlsx = render(SCHOOL, [row(cp_start_date=date(2026, 11, 21), cp_current="Y")], RUN, counted)
    wb = load_workbook(io.BytesIO(xlsx))
    assert wb.sheetnames == ["Databook", SHEET_CHANGES, "About"]
    assert changes_of(xlsx) == [
        ("UPN", "Name", "What changed", "From", "To"),
        ("B801200005001", "Amy Example", "Child protection plan started", None,
         date(2026, 11, 21))]
    about = {r[0]: r[1] for r in sheet_values(wb, "About") if r and r[0]}
    assert "Changes sheet" in str(about[SHEET_CHANGES])
    assert EARLIER.run_id in str(about["Compared with"])


def test_no_changes_and_a_first_databook_each_say_so() -> None:
    unchanged = render(SCHOOL, [row()], RUN, SchoolChanges(EARLIER))
    assert [r[0] for r in changes_of(unchanged)[1:]] == [
        "No changes since your previous databook (data as at 21/11/2026)."]
    first = render(SCHOOL, [row()], RUN, SchoolChanges(None))
    assert [r[0] for r in changes_of(first)[1:]] == [FIRST_DATABOOK]


def test_a_name_that_looks_like_a_formula_stays_text_in_the_changes_sheet() -> None:
    evil = "=HYPERLINK(\"http://example.invalid\",\"x\")"
    counted = school_changes(EARLIER, [], [row(name=evil)], WITHHELD)
    xlsx = render(SCHOOL, [row(name=evil)], RUN, counted)
    assert formula_cells(xlsx) == []
    assert changes_of(xlsx)[1][1] == evil


def test_a_newly_withheld_address_is_nowhere_in_the_new_workbook() -> None:
    counted = school_changes(EARLIER, [row(principal_address="9 Secret Lane")],
                             [row(principal_address=WITHHELD)], WITHHELD)
    xlsx = render(SCHOOL, [row(principal_address=WITHHELD)], RUN, counted)
    assert "Secret Lane" not in all_text(xlsx)
    assert changes_of(xlsx)[1][2:] == ("Address now withheld", None, WITHHELD)


def test_rows_read_back_from_a_workbook_have_the_digest_they_were_written_with() -> None:
    """What makes the manifest digest sound: a school whose rows did not change is never
    reported as changed after its workbook is read back."""
    rows = [row(name="Zoë \x07O'Brien", cautions="Risk of violence", cp_current="Y",
                cp_start_date=date(2026, 1, 5)), row(upn=None, name="  spaced  ", cautions="")]
    back = read_rows(render(SCHOOL, rows, RUN, SchoolChanges(None)))
    assert rows_digest(back, b"k" * 32) == rows_digest(rows, b"k" * 32)
    assert school_changes(EARLIER, back, rows, WITHHELD).changes == ()


def test_only_schools_whose_digest_differs_are_read() -> None:
    key = b"k" * 32
    same, moved = [row(upn="S000000000001")], [row(upn="M000000000001")]
    entries = {1: {"urn": 1, "children": 1, "rows_digest": rows_digest(same, key),
                   "updated_at": "2026-11-21T02:00:05Z"},
               2: {"urn": 2, "children": 1, "rows_digest": rows_digest(moved, key)},
               4: {"urn": 4, "children": 0, "rows_digest": rows_digest([], key)}}
    latest_run = Latest("r1", date(2026, 11, 21), entries)
    read: list[int] = []

    def reader(urn: int, entry: object) -> bytes:
        read.append(urn)
        return render(SCHOOL, moved, RUN)

    today = {1: same, 2: [row(upn="M000000000001", social_worker="Jo")], 3: [row()]}
    found = compare(latest_run, today, reader, key, WITHHELD)
    assert read == [2]
    assert found.changed == [2, 3] and found.gone == [4]
    assert found.schools[1].updated_at == "2026-11-21T02:00:05Z"
    assert found.schools[3].changes.previous is None  # a new school: its first databook
    assert [line["urn"] for line in found.balance_lines()] == [2]


def _flip_a_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


@pytest.fixture
def published(tmp_path: Path) -> tuple[LocalStore, Keystore, str]:
    """A full run of three schools, one row each, with digests."""
    store, keystore = LocalStore(tmp_path / "drop"), Keystore.open(tmp_path / "state")
    frame = _frame("x", "x", "x")
    files = _files(keystore, store, frame, amend=False)
    run_id = publish_run(store, RUN, files, Signing.from_keystore(keystore), {"T": 1})
    return store, keystore, run_id


def _frame(*workers: str) -> pd.DataFrame:
    frame = pd.DataFrame({"urn": [100, 200, 300], "person_id": [1, 2, 3]})
    for key, value in zip(KEYS, row(), strict=True):
        frame[key] = pd.Timestamp(value) if isinstance(value, date) else value
    frame["social_worker"] = list(workers)
    frame["upn"] = ["A000000000001", "A000000000002", "A000000000003"]
    return frame


def _files(keystore: Keystore, store: LocalStore, frame: pd.DataFrame,
           amend: bool) -> list[SchoolFile]:
    comparison = compare_with_latest(store, keystore, frame, [100, 200, 300], WITHHELD)
    files = list(school_files(SCHOOLS, frame, keystore.ensure_keys([100, 200, 300])))
    return attach(files, comparison, comparison.changed if amend else None)


def _amend(store: LocalStore, keystore: Keystore, frame: pd.DataFrame) -> str:
    comparison = compare_with_latest(store, keystore, frame, [100, 200, 300], WITHHELD)
    assert comparison.latest is not None
    changed = attach(list(school_files(SCHOOLS, frame, keystore.ensure_keys([100, 200, 300]))),
                     comparison, comparison.changed)
    encrypted = [render_encrypted((f, LATER)) for f in changed]
    return publish_amendment(store, LATER, comparison.latest, [100, 200, 300], changed,
                             encrypted, Signing.from_keystore(keystore), {"T": 1})


def test_an_amendment_carries_unchanged_files_byte_for_byte(
        published: tuple[LocalStore, Keystore, str]) -> None:
    store, keystore, first = published
    second = _amend(store, keystore, _frame("x", "Jo New", "x"))
    assert latest(store) == second
    document = manifest.verify(store, second, keystore.public_keys())
    assert document["amends"]["run_id"] == first and document["changed_schools"] == [200]
    for urn in (100, 300):
        assert store.read(f"{second}/{urn}.xlsx") == store.read(f"{first}/{urn}.xlsx")
    wb, _ = open_encrypted(store.read(f"{second}/200.xlsx"), keystore.password(200))
    assert sheet_values(wb, SHEET_CHANGES)[1][2:] == ("Social worker changed", "x", "Jo New")


def test_an_amendment_refuses_when_latest_moved_meanwhile(
        published: tuple[LocalStore, Keystore, str]) -> None:
    store, keystore, _ = published
    frame = _frame("x", "Jo New", "x")
    comparison = compare_with_latest(store, keystore, frame, [100, 200, 300], WITHHELD)
    assert comparison.latest is not None
    store.write(LATEST, b"20261121T030000.000000Z-bbb222\n")  # a rotation got in first
    changed = attach(list(school_files(SCHOOLS, frame, keystore.ensure_keys([100, 200, 300]))),
                     comparison, comparison.changed)
    with pytest.raises(PublishError, match="latest run moved"):
        publish_amendment(store, LATER, comparison.latest, [100, 200, 300], changed,
                          [render_encrypted((f, LATER)) for f in changed],
                          Signing.from_keystore(keystore), {"T": 1})
    assert not [n for n in store.list_dir() if n.startswith(".staging-")]


def test_an_amendment_refuses_a_carried_file_that_was_tampered_with(
        published: tuple[LocalStore, Keystore, str]) -> None:
    store, keystore, first = published
    frame = _frame("x", "Jo New", "x")
    comparison = compare_with_latest(store, keystore, frame, [100, 200, 300], WITHHELD)
    path = store.root / first / "300.xlsx"
    _flip_a_byte(path)
    assert comparison.latest is not None
    changed = attach(list(school_files(SCHOOLS, frame, keystore.ensure_keys([100, 200, 300]))),
                     comparison, comparison.changed)
    with pytest.raises(PublishError, match=r"300\.xlsx does not match"):
        publish_amendment(store, LATER, comparison.latest, [100, 200, 300], changed,
                          [render_encrypted((f, LATER)) for f in changed],
                          Signing.from_keystore(keystore), {"T": 1})
    assert latest(store) == first


def test_a_previous_file_that_does_not_match_its_manifest_is_not_read(
        published: tuple[LocalStore, Keystore, str]) -> None:
    store, keystore, first = published
    path = store.root / first / "200.xlsx"
    _flip_a_byte(path)
    with pytest.raises(ManifestError, match=r"200\.xlsx does not match"):
        compare_with_latest(store, keystore, _frame("x", "y", "x"), [100, 200, 300], WITHHELD)


def test_a_digest_of_another_format_reads_the_file_and_finds_no_change() -> None:
    """After an upgrade (or a manifest from before digests) the first run reads each school's
    file once instead of re-publishing every school."""
    rows = [row(upn="S000000000001")]
    entries: dict[int, dict[str, object]] = {
        1: {"urn": 1, "children": 1, "rows_digest": "0" * 64, "updated_at": "T"},
        2: {"urn": 2, "children": 1}}
    read: list[int] = []

    def reader(urn: int, entry: object) -> bytes:
        read.append(urn)
        return render(SCHOOL, rows, RUN)

    found = compare(Latest("r1", date(2026, 11, 21), entries), {1: rows, 2: rows}, reader,
                    b"k" * 32, WITHHELD)
    assert read == [1, 2] and found.changed == []
    assert found.schools[1].updated_at == "T"
