"""Multi-agency partners end to end, through the real command on the demo council.

A partner over two schools (two that share a dual-registered child) with a column subset gets
exactly those schools' children, once each, and exactly its agreed columns, in a file that
LibreOffice opens with the partner's own password; a lapsed partner and an unsigned one get
nothing, and the run's record, report and ``databook partners escalation`` say so; the
manifest lists the partner's file (pseudonymous members) and verifies; ``keys rotate
--partner`` re-publishes only its file; no child's name reaches anything outside the drop.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import pytest

from databook.store import LocalStore
from demo.changes import Happening, apply, choose
from extract import read_sources
from publish import manifest
from publish.keystore import Keystore
from schemas.changes import LABELS, SHEET_CHANGES, ChangeKind
from tests.conftest import office as _office  # the module's LibreOffice fixture
from tests.support import (
    AS_AT,
    Council,
    Run,
    all_text,
    databook,
    formula_cells,
    open_encrypted,
    sheet_values,
)
from tests.support import read_with_libreoffice as read
from transform import Rules, build_databook

pytestmark = pytest.mark.prefect
office = _office

TODAY = date.today()
NURSES = "school-nursing-north"
COLUMNS = ["Name", "Child protection (current)", "Looked after (current)"]


@dataclass(frozen=True)
class PartnerRun:
    home: Path
    folder: Path
    env: dict[str, str]
    schools: tuple[int, int]
    stdout: str
    stderr: str


def _school_rows(folder: Path, keystore: Keystore, urn: int) -> list[tuple[object, ...]]:
    wb, _ = open_encrypted((folder / f"{urn}.xlsx").read_bytes(), keystore.password(urn))
    return sheet_values(wb, "Databook")


@pytest.fixture(scope="module")
def partner_run(run: Run, council: Council, tmp_path_factory: pytest.TempPathFactory
                ) -> PartnerRun:
    """The session's first run copied (Prefect's home shared), a partner register imported,
    then a second full run."""
    home = tmp_path_factory.mktemp("partners-home") / "home"
    shutil.copytree(run.home, home, ignore=shutil.ignore_patterns("prefect"))
    env = run.env | {"DATABOOK_HOME": str(home)}
    keystore = Keystore.open(home)
    by_upn: dict[object, set[int]] = {}
    for path in run.folder.glob("*.xlsx"):
        for row in _school_rows(run.folder, keystore, int(path.stem))[1:]:
            by_upn.setdefault(row[0], set()).add(int(path.stem))
    pair = next(sorted(urns) for urns in by_upn.values() if len(urns) == 2)
    signed, review = TODAY - timedelta(days=30), TODAY + timedelta(days=335)
    register = "\n".join([
        "partner_id,name,schools,columns,dsa_signed_on,dsa_review_on",
        f"{NURSES},School Nursing North,{pair[0]} {pair[1]},{';'.join(COLUMNS)},"
        f"{signed.isoformat()},{review.isoformat()}",
        f"yot-lapsed,Youth Offending Team,{pair[0]},Case status,2024-01-01,"
        f"{(TODAY - timedelta(days=1)).isoformat()}",
        f"early-help,Early Help Hub,{pair[1]},Cautions,,"]) + "\n"
    loaded = _import(register, env)
    assert loaded.returncode == 0, loaded.stderr
    done = databook("run", "--as-at", AS_AT.isoformat(), "--source-url", council.case_url,
                    "--roll-url", council.roll_url, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    return PartnerRun(home, Path(done.stdout.strip().splitlines()[-1]), env,
                      (pair[0], pair[1]), done.stdout, done.stderr)


def _import(register: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "databook", "partners", "import", "-"],
                          env=env, input=register, text=True, capture_output=True,
                          timeout=120, check=False)


def partner_book(pr: PartnerRun) -> tuple[list[tuple[object, ...]], bytes, object]:
    password = Keystore.open(pr.home).partner_password(NURSES)
    wb, plain = open_encrypted((pr.folder / f"partner-{NURSES}.xlsx").read_bytes(), password)
    return sheet_values(wb, "Databook"), plain, wb


def test_the_partner_gets_exactly_its_schools_children_and_its_columns(
        partner_run: PartnerRun) -> None:
    values, plain, wb = partner_book(partner_run)
    assert wb.sheetnames == ["Databook", "Changes", "About"]  # type: ignore[attr-defined]
    assert formula_cells(plain) == []
    assert list(values[0]) == ["School URN", "School", "UPN", *COLUMNS]
    keystore = Keystore.open(partner_run.home)
    expected: dict[object, dict[str, object]] = {}
    for urn in partner_run.schools:
        school = _school_rows(partner_run.folder, keystore, urn)
        header = list(school[0])
        for row in school[1:]:
            seen = expected.setdefault(row[0], {"urns": set()})
            seen["urns"].add(str(urn))  # type: ignore[attr-defined]
            for column in ["UPN", *COLUMNS]:
                seen[column] = row[header.index(column)]
    got = {row[2]: row for row in values[1:]}
    assert Counter(row[2] for row in values[1:]).most_common(1)[0][1] == 1  # once each
    assert set(got) == set(expected) and got
    both = [upn for upn, seen in expected.items() if len(seen["urns"]) == 2]  # type: ignore
    assert both, "the pair was chosen to share a dual-registered child"
    for upn, row in got.items():
        assert set(str(row[0]).split()) == expected[upn]["urns"]
        assert list(row[3:]) == [expected[upn][c] for c in COLUMNS]
    about = all_text(plain)
    assert "School Nursing North" in about and "data-sharing agreement signed on" in about
    for hidden in ("Principal address", "Social worker", "Cautions", "Date of birth"):
        assert hidden not in str(values[0])
    assert "No changes" in about or "first" in about.lower()


def test_lapsed_and_unsigned_partners_get_nothing_and_are_named(
        partner_run: PartnerRun) -> None:
    names = sorted(p.name for p in partner_run.folder.iterdir())
    assert [n for n in names if n.startswith("partner-")] == [f"partner-{NURSES}.xlsx"]
    record = json.loads((partner_run.home / "runs" / partner_run.folder.name / "run.json")
                        .read_text())
    assert record["partners"]["published"] == [NURSES]
    lapsed = {p["partner_id"]: p["reason"] for p in record["partners"]["lapsed"]}
    assert lapsed == {"early-help": "no data-sharing agreement signed",
                      "yot-lapsed": f"agreement review date "
                                    f"{(TODAY - timedelta(days=1)).isoformat()} has passed"}
    report = (partner_run.home / "runs" / partner_run.folder.name / "report.html").read_text()
    assert "yot-lapsed" in report and "has passed" in report
    listed = databook("partners", "escalation", "--format", "csv", env=partner_run.env)
    assert listed.returncode == 0, listed.stderr
    assert sorted(line.split(",")[0] for line in listed.stdout.splitlines()[1:]) == [
        "early-help", "yot-lapsed"]


def test_the_manifest_lists_the_partner_pseudonymously_and_verifies(
        partner_run: PartnerRun) -> None:
    keystore = Keystore.open(partner_run.home)
    document = manifest.verify(LocalStore(partner_run.home / "drop"), partner_run.folder.name,
                               keystore.public_keys())
    (entry,) = document["partners"]
    values, _, _ = partner_book(partner_run)
    assert entry["partner_id"] == NURSES and entry["children"] == len(values) - 1
    assert len(entry["members"]) == entry["children"]
    assert entry["schools"] == list(partner_run.schools)
    assert all(len(m) == 64 for m in entry["members"])
    school_members = {m for s in document["schools"] if s["urn"] in partner_run.schools
                      for m in s["members"]}
    assert set(entry["members"]) == school_members
    checked = databook("manifest", "verify", str(partner_run.folder), env=partner_run.env)
    assert checked.returncode == 0, checked.stderr


def test_keys_reveal_and_rotate_for_a_partner(partner_run: PartnerRun, tmp_path: Path) -> None:
    home = tmp_path / "home"
    shutil.copytree(partner_run.home, home)
    env = partner_run.env | {"DATABOOK_HOME": str(home)}
    before = databook("keys", "reveal", "--partner", NURSES, env=env)
    assert before.returncode == 0, before.stderr
    old = before.stdout.strip().splitlines()[-1]
    rotated = databook("keys", "rotate", "--partner", NURSES, env=env)
    assert rotated.returncode == 0, rotated.stderr
    new_run = home / "drop" / rotated.stdout.strip().splitlines()[-1]
    new = databook("keys", "reveal", "--partner", NURSES, env=env).stdout.strip().splitlines()[-1]
    assert new != old
    name = f"partner-{NURSES}.xlsx"
    open_encrypted((new_run / name).read_bytes(), new)
    with pytest.raises(Exception):  # noqa: B017  (msoffcrypto's own error types)
        open_encrypted((new_run / name).read_bytes(), old)
    old_run = home / "drop" / partner_run.folder.name
    for path in old_run.glob("*.xlsx"):
        if path.name != name:
            assert (new_run / path.name).read_bytes() == path.read_bytes()
    document = json.loads((new_run / "manifest.json").read_text())
    assert document["amends"]["reason"] == f"password rotated for partner {NURSES}"
    assert databook("manifest", "verify", str(new_run), env=env).returncode == 0
    # a school rotation afterwards carries the partner's file over, byte for byte
    urn = partner_run.schools[0]
    again = databook("keys", "rotate", "--school", str(urn), env=env)
    assert again.returncode == 0, again.stderr
    third = home / "drop" / again.stdout.strip().splitlines()[-1]
    assert (third / name).read_bytes() == (new_run / name).read_bytes()
    assert json.loads((third / "manifest.json").read_text())["partners"][0]["partner_id"] == \
        NURSES
    wrong = databook("keys", "reveal", "--partner", "nobody", env=env)
    assert wrong.returncode == 1 and "no password for partner nobody" in wrong.stderr


def test_no_childs_name_reaches_anything_outside_the_drop(partner_run: PartnerRun) -> None:
    values, _, _ = partner_book(partner_run)
    names = {str(row[3]) for row in values[1:] if row[3]}
    assert names
    outside = [p for p in partner_run.home.rglob("*")
               if p.is_file() and partner_run.home / "drop" not in p.parents]
    assert any(p.name == "portal.sqlite" for p in outside)  # the register's database
    haystacks = [partner_run.stdout, partner_run.stderr] + [
        p.read_bytes().decode("utf-8", "replace") for p in outside]
    assert {n for n in names if any(n in h for h in haystacks)} == set()


def test_libreoffice_opens_the_partner_file_with_its_password_only(
        partner_run: PartnerRun, office: str) -> None:
    keystore = Keystore.open(partner_run.home)
    path = partner_run.folder / f"partner-{NURSES}.xlsx"
    seen = read(office, path, keystore.partner_password(NURSES))
    assert seen["opened"] is True and seen["formulas"] == 0
    assert seen["sheets"] == ["Databook", "Changes", "About"]
    rows = seen["rows"]
    assert isinstance(rows, list)
    assert [c for c in rows[0] if c] == ["School URN", "School", "UPN", *COLUMNS]
    values, _, _ = partner_book(partner_run)
    assert sorted(r[2] for r in rows[1:]) == sorted(str(v[2]) for v in values[1:])
    for urn in partner_run.schools:  # a school's password does not open the partner's file
        assert read(office, path, keystore.password(urn))["opened"] is False


@dataclass(frozen=True)
class Amended:
    home: Path
    outside: Path  # a changed-only run after a change at a school the partner does not cover
    inside: Path  # then one after a change at one of its schools
    happened: Happening


@pytest.fixture(scope="module")
def amended(partner_run: PartnerRun, council: Council,
            tmp_path_factory: pytest.TempPathFactory) -> Amended:
    folder = tmp_path_factory.mktemp("partner-council")
    mine = Council(folder / "case.sqlite", folder / "roll.sqlite")
    shutil.copy(council.case_path, mine.case_path)
    shutil.copy(council.roll_path, mine.roll_path)
    home = tmp_path_factory.mktemp("partner-amend") / "home"
    shutil.copytree(partner_run.home, home)
    env = partner_run.env | {"DATABOOK_HOME": str(home)}
    rows = build_databook(read_sources(mine.case_url, mine.roll_url), Rules(as_at=AS_AT)).rows

    def changed_only() -> Path:
        done = databook("run", "--as-at", AS_AT.isoformat(), "--source-url", mine.case_url,
                        "--roll-url", mine.roll_url, "--changed-only", env=env)
        assert done.returncode == 0, done.stderr[-3000:]
        return Path(done.stdout.strip().splitlines()[-1])

    (away,) = choose(rows[~rows["urn"].isin(partner_run.schools)], 1)
    apply(mine.case_url, mine.roll_url, [away], rows, AS_AT)
    outside = changed_only()
    rows = build_databook(read_sources(mine.case_url, mine.roll_url), Rules(as_at=AS_AT)).rows
    (here,) = choose(rows[rows["urn"].isin(partner_run.schools)], 1)
    assert here.kind == "plan"
    apply(mine.case_url, mine.roll_url, [here], rows, AS_AT)
    return Amended(home, outside, changed_only(), here)


def test_changed_only_carries_an_unchanged_partner_file_and_renews_a_changed_one(
        partner_run: PartnerRun, amended: Amended) -> None:
    name = f"partner-{NURSES}.xlsx"
    first = manifest.parse((partner_run.folder / "manifest.json").read_bytes())
    outside = manifest.parse((amended.outside / "manifest.json").read_bytes())
    inside = manifest.parse((amended.inside / "manifest.json").read_bytes())
    assert outside["amends"]["run_id"] == partner_run.folder.name
    assert (amended.outside / name).read_bytes() == (partner_run.folder / name).read_bytes()
    assert outside["partners"] == first["partners"]
    assert inside["amends"]["run_id"] == amended.outside.name
    assert (amended.inside / name).read_bytes() != (amended.outside / name).read_bytes()
    (entry,) = inside["partners"]
    assert entry["updated_at"] == inside["generated_at"]
    assert entry["rows_digest"] != first["partners"][0]["rows_digest"]
    keystore = Keystore.open(amended.home)
    for run in (amended.outside, amended.inside):
        manifest.verify(LocalStore(amended.home / "drop"), run.name, keystore.public_keys())
    wb, plain = open_encrypted((amended.inside / name).read_bytes(),
                               keystore.partner_password(NURSES))
    assert formula_cells(plain) == []
    changes = sheet_values(wb, SHEET_CHANGES)[1:]
    assert {r[0] for r in changes} == {amended.happened.upn}  # that child, nobody else
    assert {r[2] for r in changes} == {LABELS[ChangeKind.CP_STARTED]}  # CIN is not agreed
