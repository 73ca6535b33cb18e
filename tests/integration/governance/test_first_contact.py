"""A council officer's first hour on the command line: on a fresh DATABOOK_HOME,
each of ``schools import``, ``schools export``, ``schools escalation``, ``users add`` and
``audit verify`` works as the very first command ever run, or says in one line what to run
first. Each runs in its own process on its own empty home, as an officer would type it."""

from __future__ import annotations

import csv
import io
import subprocess
import sys
from pathlib import Path

import pytest

from schemas.registers import ESCALATION_COLUMNS, REGISTER_COLUMNS
from tests.support import clean_env

REGISTER = (",".join(REGISTER_COLUMNS) + "\n"
            "112017,Ashover Primary School,,,,,,,,2025-06-01;2025-07-01,no_contact,no reply\n")


def first(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    assert not home.exists() or not any(home.iterdir()), "the home must be fresh"
    return subprocess.run([sys.executable, "-m", "databook", *args],
                          env=clean_env(DATABOOK_HOME=str(home)), text=True,
                          capture_output=True, timeout=180, check=False)


@pytest.fixture
def fresh(tmp_path: Path) -> Path:
    return tmp_path / "home"


def test_schools_import_is_a_first_command(fresh: Path, tmp_path: Path) -> None:
    sheet = tmp_path / "register.csv"
    sheet.write_text(REGISTER)
    done = first(fresh, "schools", "import", str(sheet))
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == \
        "imported 1 schools: 1 added, 0 changed, 0 unchanged, 0 removed"


def test_schools_export_is_a_first_command(fresh: Path) -> None:
    done = first(fresh, "schools", "export")
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [",".join(REGISTER_COLUMNS)]


def test_schools_escalation_is_a_first_command(fresh: Path) -> None:
    done = first(fresh, "schools", "escalation", "--format", "csv")
    assert done.returncode == 0, done.stderr
    assert list(csv.reader(io.StringIO(done.stdout))) == [list(ESCALATION_COLUMNS)]
    # No drop yet: one line says the run's schools could not be added, nothing more.
    assert len(done.stderr.splitlines()) == 1
    assert done.stderr.startswith("note: the latest run's schools are not listed")


def test_users_add_is_a_first_command(fresh: Path) -> None:
    done = first(fresh, "users", "add", "--school", "112017", "--name", "Ann Lead",
                 "--email", "ann.lead@ashover.sch.uk")
    assert done.returncode == 0, done.stderr
    assert "/enrol/" in done.stdout.splitlines()[-1]


def test_audit_verify_first_says_what_to_run_first(fresh: Path) -> None:
    done = first(fresh, "audit", "verify")
    assert done.returncode == 1
    assert done.stderr.splitlines() == [
        f"databook: error: there is no portal database at {fresh / 'portal' / 'portal.sqlite'} "
        "yet: run `databook users add` or `databook portal serve` first (or set "
        "DATABOOK_PORTAL_DATABASE_URL)"]


def test_audit_verify_works_after_users_add_before_the_portal_ever_served(fresh: Path) -> None:
    """``users add`` writes a ledger entry and, like every command that appends, signs a
    checkpoint over it before it exits, so verify on a portal that never served
    finds the entry signed."""
    assert first(fresh, "users", "add", "--school", "112017", "--name", "Ann Lead",
                 "--email", "ann.lead@ashover.sch.uk").returncode == 0
    done = subprocess.run([sys.executable, "-m", "databook", "audit", "verify"],
                          env=clean_env(DATABOOK_HOME=str(fresh)), text=True,
                          capture_output=True, timeout=180, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("ledger verified: 1 entries, 1 checkpoints")


def test_demo_register_first_says_what_to_run_first(fresh: Path) -> None:
    done = first(fresh, "schools", "demo-register")
    assert done.returncode == 1
    assert done.stderr.splitlines() == [
        f"databook: error: there is no school roll at {fresh / 'demo' / 'roll.sqlite'} yet: "
        "run `databook demo-data` first (or set DATABOOK_ROLL_URL)"]


def test_escalation_on_the_command_line_lists_the_runs_schools_with_nobody_named(
        tmp_path: Path) -> None:
    """The same list as the council's page: a school of the latest run that is not on the
    register and has nobody named is on it."""
    from sqlalchemy import delete

    from portal.migrate import ready
    from portal.registers.models import SchoolRegister
    from tests.support import SCHOOLS, add_user, make_env

    env = make_env(tmp_path)
    a, b, c = sorted(SCHOOLS)
    add_user(env, "sam.dsl@alder.example", [a])
    with ready(env.settings.portal.database_url, env.settings.portal.state_dir).begin() as db:
        db.execute(delete(SchoolRegister).where(SchoolRegister.urn == b))
    done = subprocess.run([sys.executable, "-m", "databook", "schools", "escalation",
                           "--format", "csv"], env=clean_env(**env.environ()), text=True,
                          capture_output=True, timeout=180, check=False)
    assert done.returncode == 0, done.stderr
    nobody = [row for row in csv.reader(io.StringIO(done.stdout)) if row[0] == "no_named_dsl"]
    assert [(row[1], row[2]) for row in nobody] == [(str(b), SCHOOLS[b]), (str(c), SCHOOLS[c])]
    assert nobody[0][7].endswith("in the latest run but not on the register")
