"""The partner register: every row checked, the first bad one named by line and column,
nothing imported on any error, formulas and unknown columns refused, and an export that
imports back unchanged (as values, and through ``databook partners``)."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.operations import Operations
from sqlalchemy import inspect

import portal.models  # noqa: F401  (the users table 0004 refers to)
from databook.database import Base, engine_for
from portal.registers import partners as models
from portal.registers.csvio import RegisterError
from portal.registers.partner_csv import parse, to_csv
from schemas.partners import PARTNER_COLUMNS, PartnerRecord, agreement_current
from tests.support import REPO, clean_env

TODAY = date(2026, 11, 21)
HEADER = ",".join(PARTNER_COLUMNS)
NURSES = ("school-nursing-north,School Nursing North,112000 112017,"
          "Name;Date of birth;Child protection (current),2026-01-05,2027-01-05")
EARLY = "early-help,Early Help Hub,112001,Case status,,"


def csv_of(*rows: str) -> str:
    return "\n".join([HEADER, *rows]) + "\n"


def test_a_good_register_reads_every_field_with_the_upn_always_first() -> None:
    nurses, early = parse(csv_of(NURSES, EARLY), TODAY)
    assert nurses == PartnerRecord(
        partner_id="school-nursing-north", name="School Nursing North",
        schools=(112000, 112017), columns=("upn", "name", "date_of_birth", "cp_current"),
        dsa_signed_on=date(2026, 1, 5), dsa_review_on=date(2027, 1, 5))
    assert early.columns == ("upn", "case_status")
    assert agreement_current(nurses, TODAY) and not agreement_current(early, TODAY)


def test_export_then_import_round_trips() -> None:
    records = parse(csv_of(EARLY, NURSES), TODAY)
    odd = PartnerRecord(partner_id="yot-2", name='Youth "Offending", Team\u00e9',
                        schools=(123456,), columns=("upn",))
    text = to_csv([*records, odd])
    assert text.splitlines()[0] == HEADER
    again = parse(text, TODAY)
    assert again == sorted([*records, odd], key=lambda r: r.partner_id)
    assert to_csv(again) == text


def cells(**changes: str) -> str:
    values = dict(zip(PARTNER_COLUMNS, NURSES.split(","), strict=True)) | changes
    return ",".join(values[c] for c in PARTNER_COLUMNS)


@pytest.mark.parametrize(("changes", "message"), [
    ({"partner_id": "bad id"}, "line 3, column partner_id: 'bad id' is not a partner id"),
    ({"partner_id": "-lead"}, "line 3, column partner_id: '-lead' is not a partner id"),
    ({"name": ""}, "line 3, column name: is empty"),
    ({"name": "=HYPERLINK(1)"}, "line 3, column name: starts with = + - @"),
    ({"name": "@SUM(A1)"}, "line 3, column name: starts with = + - @"),
    ({"schools": ""}, "line 3, column schools: is empty"),
    ({"schools": "112000 11201"}, "line 3, column schools: '11201' is not a six-digit URN"),
    ({"schools": "112000 112000"}, "line 3, column schools: '112000 112000' lists the same"),
    ({"columns": "Name;Religion"}, "line 3, column columns: 'Religion' is not a databook "
                                   "column"),
    ({"columns": "name"}, "line 3, column columns: 'name' is not a databook column"),
    ({"columns": "Name;Name"}, "line 3, column columns: 'Name' is listed twice"),
    ({"columns": "=1+1"}, "line 3, column columns: '=1+1' starts with = + - @"),
    ({"dsa_signed_on": "2026-02-30"}, "line 3, column dsa_signed_on: '2026-02-30' is not a "
                                      "date"),
    ({"dsa_signed_on": "2027-01-01"}, "line 3, column dsa_signed_on: '2027-01-01' is in the "
                                      "future"),
    ({"dsa_review_on": ""}, "line 3, column dsa_review_on: is needed when the agreement is "
                            "signed"),
    ({"dsa_review_on": "2026-01-05"}, "line 3, column dsa_review_on: '2026-01-05' is not after"),
    ({"dsa_signed_on": ""}, "line 3, column dsa_signed_on: is empty, but the agreement has a "
                            "review date"),
])
def test_a_bad_row_is_named_by_line_and_column(changes: dict[str, str], message: str) -> None:
    with pytest.raises(RegisterError) as caught:
        parse(csv_of(EARLY, cells(**changes)), TODAY)
    assert str(caught.value).startswith(message)


def test_headers_and_duplicates_are_checked() -> None:
    with pytest.raises(RegisterError, match=r"^line 1: missing column 'dsa_review_on'"):
        parse(HEADER.removesuffix(",dsa_review_on") + "\n", TODAY)
    with pytest.raises(RegisterError, match=r"^line 1: unknown column 'pupils'"):
        parse(HEADER + ",pupils\n", TODAY)
    with pytest.raises(RegisterError, match=r"^line 3, column partner_id: .* also on line 2"):
        parse(csv_of(NURSES, cells(partner_id="School-Nursing-North")), TODAY)
    with pytest.raises(RegisterError, match="header but no partners"):
        parse(HEADER + "\n", TODAY)


def databook(*args: str, home: Path, stdin: str | None = None
             ) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "databook", *args],
                          env=clean_env(DATABOOK_HOME=str(home)), text=True, input=stdin,
                          capture_output=True, timeout=120, check=False)


def test_the_command_imports_all_or_nothing_and_exports_what_it_imported(
        tmp_path: Path) -> None:
    sheet = tmp_path / "partners.csv"
    sheet.write_text(csv_of(NURSES, EARLY))
    done = databook("partners", "import", str(sheet), home=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "imported 2 partners: 2 added, 0 changed, 0 unchanged, 0 removed"
    exported = databook("partners", "export", home=tmp_path)
    assert exported.returncode == 0, exported.stderr
    assert parse(exported.stdout, TODAY) == parse(csv_of(EARLY, NURSES), TODAY)
    again = databook("partners", "import", "-", home=tmp_path, stdin=exported.stdout)
    assert again.stdout.strip() == "imported 2 partners: 0 added, 0 changed, 2 unchanged, 0 removed"

    # one good row changed, one bad row after it: nothing is imported, the bad row is named
    changed = cells(name="Renamed Team")
    bad = EARLY.replace("Case status", "Case status;Ethnicity")
    failed = databook("partners", "import", "-", home=tmp_path, stdin=csv_of(changed, bad))
    assert failed.returncode == 1
    assert failed.stderr.strip() == (
        "databook: error: - line 3, column columns: 'Ethnicity' is not a databook column (use "
        "the header exactly as the workbook shows it); nothing was imported")
    assert databook("partners", "export", home=tmp_path).stdout == exported.stdout

    added = databook("users", "add", "--partner", "school-nursing-north", "--name", "Nia Nurse",
                     "--email", "nia.nurse@nhs.example", home=tmp_path)
    assert added.returncode == 0, added.stderr
    assert "/enrol/" in added.stdout.strip().splitlines()[-1]
    for extra, why in ((["--partner", "nobody"], "partner nobody is not on the register"),
                       (["--partner", "early-help", "--school", "112000"],
                        "with --partner ID alone")):
        refused = databook("users", "add", *extra, "--name", "X", "--email", "x@nhs.example",
                           home=tmp_path)
        assert refused.returncode == 1 and why in refused.stderr, refused.stderr
    lapsed = databook("partners", "escalation", "--format", "csv", home=tmp_path)
    assert lapsed.returncode == 0, lapsed.stderr
    assert lapsed.stdout.splitlines() == [
        "partner_id,name,dsa_signed_on,dsa_review_on,detail",
        "early-help,Early Help Hub,,,no data-sharing agreement signed"]


MIGRATION = REPO / "portal/migrations/versions/0004_partners.py"
MINE = {models.Partner.__tablename__, models.PartnerSchool.__tablename__,
        models.PartnerColumn.__tablename__, models.UserPartner.__tablename__}


def _tables(diff: Any) -> set[str]:
    entries = diff if isinstance(diff, list) else [diff]
    names = set()
    for entry in entries:
        for part in entry:
            name = getattr(part, "name", None) if hasattr(part, "columns") else None
            table = getattr(getattr(part, "table", None), "name", None)
            names |= {n for n in (name, table) if n}
    return names


def test_migration_0004_matches_the_models_and_downgrade_removes_them(db_url: str) -> None:
    spec = importlib.util.spec_from_file_location("m0004", MIGRATION)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert (module.revision, module.down_revision) == ("0004_partners", "0003_registers")
    engine = engine_for(db_url)
    try:
        with engine.begin() as conn:
            Base.metadata.create_all(conn, tables=[Base.metadata.tables["users"]])
            context = MigrationContext.configure(conn)
            with Operations.context(context):
                module.upgrade()
            assert set(inspect(conn).get_table_names()) >= MINE
            assert [d for d in compare_metadata(context, Base.metadata)
                    if _tables(d) & MINE] == []
            with Operations.context(context):
                module.downgrade()
            assert not MINE & set(inspect(conn).get_table_names())
    finally:
        engine.dispose()


def test_a_partner_left_out_of_the_file_is_removed_only_when_asked(tmp_path: Path) -> None:
    """A partner deleted from the register file must not stay current (and keep
    downloading): the import names it and imports nothing, or removes it when told to."""
    sheet = tmp_path / "partners.csv"
    sheet.write_text(csv_of(NURSES, EARLY))
    assert databook("partners", "import", str(sheet), home=tmp_path).returncode == 0
    sheet.write_text(csv_of(NURSES))
    refused = databook("partners", "import", str(sheet), home=tmp_path)
    assert refused.returncode == 1 and "--remove-absent" in refused.stderr
    assert len(refused.stderr.splitlines()) == 1
    assert len(parse(databook("partners", "export", home=tmp_path).stdout, TODAY)) == 2
    done = databook("partners", "import", "--remove-absent", str(sheet), home=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().endswith("1 unchanged, 1 removed")
    assert parse(databook("partners", "export", home=tmp_path).stdout, TODAY) == \
        parse(csv_of(NURSES), TODAY)
