"""Changes sheets and same-day amendment runs, end to end through the real command.

A first full run; then, in the sources, a child goes onto a plan, one leaves the school and one
gets a new worker, each at a different school; then ``databook run --changed-only`` must
publish an amendment whose workbooks show exactly those changes at exactly those schools,
with every other school's file byte-identical to the first run's; then a second
``--changed-only`` run finds nothing and publishes nothing.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

from databook.drop import latest
from databook.store import LocalStore
from demo.changes import Happening, apply, choose
from extract import read_sources
from publish import manifest
from publish.keystore import Keystore
from schemas.changes import FIRST_DATABOOK, LABELS, SHEET_CHANGES, ChangeKind
from tests.support import AS_AT, Council, Run, databook, formula_cells, open_encrypted, sheet_values
from transform import Rules, build_databook

pytestmark = pytest.mark.prefect


@dataclass(frozen=True)
class Runs:
    home: Path
    first: Path
    second: Path
    third_stdout: str
    third_stderr: str
    happened: list[Happening]


def _run(env: dict[str, str], council: Council, *extra: str) -> tuple[str, str]:
    done = databook("run", "--as-at", AS_AT.isoformat(), "--source-url", council.case_url,
                    "--roll-url", council.roll_url, *extra, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout, done.stderr


@pytest.fixture(scope="module")
def runs(run: Run, council: Council, tmp_path_factory: pytest.TempPathFactory) -> Runs:
    """The session's first run, copied with its sources and state (Prefect's home is shared,
    already set up), then the happenings and two changed-only runs."""
    folder = tmp_path_factory.mktemp("changing-council")
    mine = Council(folder / "case.sqlite", folder / "roll.sqlite")
    shutil.copy(council.case_path, mine.case_path)
    shutil.copy(council.roll_path, mine.roll_path)
    home = tmp_path_factory.mktemp("changes-home") / "home"
    shutil.copytree(run.home, home, ignore=shutil.ignore_patterns("prefect"))
    env = run.env | {"DATABOOK_HOME": str(home)}
    book = build_databook(read_sources(mine.case_url, mine.roll_url), Rules(as_at=AS_AT))
    happened = choose(book.rows, 3)
    apply(mine.case_url, mine.roll_url, happened, book.rows, AS_AT)
    second, _ = _run(env, mine, "--changed-only")
    third_out, third_err = _run(env, mine, "--changed-only")
    return Runs(home, home / "drop" / run.folder.name, Path(second.strip().splitlines()[-1]),
                third_out, third_err, happened)


def changes_sheet(home: Path, path: Path) -> list[tuple[object, ...]]:
    wb, plain = open_encrypted(path.read_bytes(), Keystore.open(home).password(int(path.stem)))
    assert wb.sheetnames[0] == "Databook" and SHEET_CHANGES in wb.sheetnames
    assert formula_cells(plain) == []
    return sheet_values(wb, SHEET_CHANGES)[1:]


def test_a_first_databook_says_it_has_nothing_to_compare_with(runs: Runs) -> None:
    for path in sorted(runs.first.glob("*.xlsx")):
        assert changes_sheet(runs.home, path) == [(FIRST_DATABOOK, None, None, None, None)]


def test_the_amendment_is_signed_and_names_what_it_amends_and_which_schools_changed(
        runs: Runs) -> None:
    store = LocalStore(runs.home / "drop")
    assert runs.second.parent == runs.first.parent and runs.second != runs.first
    assert latest(store) == runs.second.name
    document = manifest.verify(store, runs.second.name, Keystore.open(runs.home).public_keys())
    assert document["amends"]["run_id"] == runs.first.name
    assert document["changed_schools"] == sorted(h.urn for h in runs.happened)
    before = manifest.parse((runs.first / manifest.MANIFEST).read_bytes())
    old = {s["urn"]: s for s in before["schools"]}
    for school in document["schools"]:
        if school["urn"] in document["changed_schools"]:
            assert school["updated_at"] == document["generated_at"]
            assert school["rows_digest"] != old[school["urn"]]["rows_digest"]
        else:
            assert school["updated_at"] == old[school["urn"]]["updated_at"]
            assert school["rows_digest"] == old[school["urn"]]["rows_digest"]


def test_every_unchanged_school_file_is_byte_identical(runs: Runs) -> None:
    changed = {h.urn for h in runs.happened}
    files = sorted(p.name for p in runs.first.glob("*.xlsx"))
    assert files == sorted(p.name for p in runs.second.glob("*.xlsx"))
    for name in files:
        same = (runs.first / name).read_bytes() == (runs.second / name).read_bytes()
        assert same == (int(name.removesuffix(".xlsx")) not in changed), name


def test_the_changed_schools_show_exactly_what_happened(runs: Runs) -> None:
    allowed = {
        "plan": {LABELS[ChangeKind.CP_STARTED], LABELS[ChangeKind.CIN_ENDED]},
        "left": {LABELS[ChangeKind.LEFT]},
        "new_worker": {LABELS[ChangeKind.WORKER_CHANGED],
                       LABELS[ChangeKind.WORKER_PHONE_CHANGED]},
    }
    must = {"plan": LABELS[ChangeKind.CP_STARTED], "left": LABELS[ChangeKind.LEFT],
            "new_worker": LABELS[ChangeKind.WORKER_CHANGED]}
    for h in runs.happened:
        rows = changes_sheet(runs.home, runs.second / f"{h.urn}.xlsx")
        assert {r[0] for r in rows} == {h.upn}, h.kind  # that child, and nobody else
        assert {str(r[2]) for r in rows} <= allowed[h.kind]
        assert must[h.kind] in {r[2] for r in rows}
        if h.kind == "plan":
            (started,) = [r for r in rows if r[2] == must["plan"]]
            assert started[3:] == (None, AS_AT)
        if h.kind == "new_worker":
            (worker,) = [r for r in rows if r[2] == must["new_worker"]]
            assert worker[3] != worker[4] and worker[3] and worker[4]


def test_a_changed_only_run_with_nothing_changed_publishes_nothing(runs: Runs) -> None:
    store = LocalStore(runs.home / "drop")
    assert latest(store) == runs.second.name
    assert len([n for n in store.list_dir() if n[:1].isdigit()]) == 2
    assert runs.third_stdout.strip().splitlines()[-1] == str(runs.second)
    assert "nothing published" in runs.third_stderr
