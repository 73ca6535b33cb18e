"""Bad input through the real command, a real Prefect server and real file systems: bad data, a
full disk, a read-only drop and a fault in databook itself each end in ONE ``databook:`` line
on stderr and a non-zero exit, with the previous run and ``latest`` byte for byte as they were,
no staging folder left, and (for the fault) the details in run.log as types and frames only.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.support import AS_AT, Council, Run, databook

pytestmark = pytest.mark.prefect
ERROR = 1


@pytest.fixture
def state(run: Run, prefect_api: str, tmp_path: Path) -> tuple[Path, dict[str, str]]:
    """A copy of the end-to-end run's home: one good run already in its drop."""
    home = tmp_path / "home"
    shutil.copytree(run.home, home, ignore=shutil.ignore_patterns("prefect"))
    env = run.env | {"DATABOOK_HOME": str(home), "PREFECT_HOME": str(home / "prefect"),
                     "PREFECT_API_URL": prefect_api}
    return home, env


def files_under(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*")
            if p.is_file()}


def damaged_roll(council: Council, folder: Path, statement: str) -> str:
    roll = folder / "roll.sqlite"
    shutil.copy(council.roll_path, roll)
    with sqlite3.connect(roll) as con:
        con.execute(statement)
    return f"sqlite:///{roll}"


def run_cmd(env: dict[str, str], case_url: str, roll_url: str,
            as_at: str = AS_AT.isoformat()) -> subprocess.CompletedProcess[str]:
    return databook("run", "--as-at", as_at, "--source-url", case_url, "--roll-url", roll_url,
                    env=env)


def one_error_line(done: subprocess.CompletedProcess[str]) -> str:
    """The command failed with exit 1 and exactly one ``databook:`` line, its last, and no
    traceback: the line is returned."""
    assert done.returncode == ERROR, done.stderr[-3000:]
    lines = done.stderr.strip().splitlines()
    assert [line for line in lines if line.startswith("databook:")] == lines[-1:], lines[-5:]
    assert "Traceback" not in done.stderr and "Encountered exception" not in done.stderr
    assert lines[-1].startswith("databook: error: ")
    return lines[-1]


def record_of(home: Path) -> dict[str, object]:
    """The newest run record (the run that just failed)."""
    newest = max((home / "runs").glob("*/run.json"), key=lambda p: p.parent.name)
    return dict(json.loads(newest.read_text()))


# Bad data: the transform's DataError names what and where, and stops the run cleanly.

def test_a_roll_whose_pupils_match_no_case_person_is_one_line(
        state: tuple[Path, dict[str, str]], council: Council, tmp_path: Path) -> None:
    home, env = state
    before = files_under(home / "drop")
    nobody = damaged_roll(council, tmp_path, "UPDATE EDU_ENROLMENTS SET UPN = NULL, "
                          "EDU_PERSON_ID = EDU_PERSON_ID + 1000000000")
    line = one_error_line(run_cmd(env, council.case_url, nobody))
    assert line.startswith("databook: error: no pupil on the roll matches any case person")
    assert "EDU_ENROLMENTS.UPN" in line and "DM_PERSONS" in line
    assert files_under(home / "drop") == before
    record = record_of(home)
    assert record["status"] == "failed"
    assert str(record["error"]).startswith("no pupil on the roll matches any case person")


def test_an_as_at_date_before_any_record_is_one_line(
        state: tuple[Path, dict[str, str]], council: Council) -> None:
    home, env = state
    before = files_under(home / "drop")
    line = one_error_line(run_cmd(env, council.case_url, council.roll_url, "1990-01-01"))
    assert "had started by the as-at date 1990-01-01" in line
    assert "unexpected" not in line
    assert files_under(home / "drop") == before


# A full disk and a read-only drop: real tmpfs mounts (root only; CI runs as root).

@contextmanager
def tmpfs(folder: Path, size: str) -> Iterator[Path]:
    """A small tmpfs mounted at ``folder``, unmounted afterwards whatever happened."""
    if os.geteuid() != 0:
        if os.environ.get("CI") == "true":
            pytest.fail("CI runs as root so that these tests can mount a tmpfs")
        pytest.skip("mounting a tmpfs needs root")
    folder.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs",
                              str(folder)], capture_output=True, text=True, check=False)
    if mounted.returncode != 0:
        if os.environ.get("CI") == "true":
            pytest.fail(f"cannot mount a tmpfs: {mounted.stderr.strip()}")
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", str(folder)], check=True)


def drop_on(disk: Path, home: Path, env: dict[str, str]) -> tuple[Path, dict[str, str]]:
    """The home's drop (its previous run, ``latest`` and keys) moved onto ``disk``."""
    drop = disk / "drop"
    shutil.copytree(home / "drop", drop)
    return drop, env | {"DATABOOK_DROP": str(drop)}


def fill(disk: Path, leave: int) -> None:
    """Fill the file system but for ``leave`` bytes."""
    stats = os.statvfs(disk)
    free = stats.f_bavail * stats.f_frsize
    with (disk / "filler").open("wb") as handle:
        handle.write(b"\0" * max(free - leave, 0))


def test_a_full_disk_fails_cleanly_and_leaves_the_drop_as_it_was(
        state: tuple[Path, dict[str, str]], council: Council, tmp_path: Path) -> None:
    home, env = state
    with tmpfs(tmp_path / "disk", "2m") as disk:
        drop, env = drop_on(disk, home, env)
        fill(disk, 16 * 1024)  # room for a file or two of tonight's run, not for all of it
        before = files_under(drop)
        line = one_error_line(run_cmd(env, council.case_url, council.roll_url))
        assert "No space left on device" in line and str(drop) in line
        assert files_under(drop) == before
        assert not [p for p in drop.iterdir() if p.name.startswith(".staging-")]
    assert record_of(home)["status"] == "failed"


def test_a_read_only_drop_fails_cleanly_and_is_left_as_it_was(
        state: tuple[Path, dict[str, str]], council: Council, tmp_path: Path) -> None:
    home, env = state
    with tmpfs(tmp_path / "disk", "2m") as disk:
        drop, env = drop_on(disk, home, env)
        subprocess.run(["mount", "-o", "remount,ro", str(disk)], check=True)
        before = files_under(drop)
        line = one_error_line(run_cmd(env, council.case_url, council.roll_url))
        assert f"the drop {drop} cannot be written" in line
        assert files_under(drop) == before
        assert not [p for p in drop.iterdir() if p.name.startswith(".staging-")]


# A fault in databook itself: the one line says where the details are, and they are there.

BROKEN_IMPORT = """
import sys
sys.modules["flows.nightly"] = None  # a broken install: importing the flow fails
from databook.cli import main
sys.exit(main(sys.argv[1:]))
"""


def test_an_unexpected_fault_leaves_its_type_and_frames_in_run_log(
        state: tuple[Path, dict[str, str]], council: Council) -> None:
    home, env = state
    done = subprocess.run([sys.executable, "-c", BROKEN_IMPORT, "run", "--as-at",
                           AS_AT.isoformat(), "--source-url", council.case_url, "--roll-url",
                           council.roll_url], env=env, text=True, capture_output=True,
                          timeout=600, check=False)
    line = one_error_line(done)
    assert line.startswith("databook: error: unexpected ModuleNotFoundError at flows/cli/run.py:")
    run_log = Path(line.split("details in ", 1)[1].split(";", 1)[0])
    assert run_log.name == "run.log" and run_log.parent.parent == home / "runs"
    text = run_log.read_text()
    assert "ModuleNotFoundError (message withheld); frames, outermost first:" in text
    assert "databook/cli.py:" in text and " in main" in text
    assert "flows/cli/run.py:" in text and " in start" in text
    assert "halted" not in text and "None in sys.modules" not in text  # the message itself
