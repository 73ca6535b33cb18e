"""The publish gate through the real command and a real Prefect flow: a blocking failure or a
drift stops publishing and leaves the drop as it was; an officer's override publishes and is
signed into the manifest; the report opens in a real browser."""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
from pathlib import Path

import pytest

from databook.drop import latest
from databook.store import LocalStore
from publish import manifest
from publish.keystore import Keystore
from tests.support import AS_AT, Council, Run, browser_text, databook

pytestmark = pytest.mark.prefect
BLOCKED = 3


@pytest.fixture
def home(run: Run, prefect_api: str, tmp_path: Path) -> tuple[Path, dict[str, str]]:
    """A copy of the end-to-end run's state and drop: one good run already published."""
    copy = tmp_path / "home"
    shutil.copytree(run.home, copy, ignore=shutil.ignore_patterns("prefect"))
    env = run.env | {"DATABOOK_HOME": str(copy), "PREFECT_HOME": str(copy / "prefect"),
                     "PREFECT_API_URL": prefect_api}
    return copy, env


def drop_bytes(home: Path) -> dict[str, bytes]:
    return {str(p.relative_to(home)): p.read_bytes() for p in (home / "drop").rglob("*")
            if p.is_file()}


def broken_case(council: Council, folder: Path, *sql: str) -> str:
    case = folder / "case.sqlite"
    shutil.copy(council.case_path, case)
    with sqlite3.connect(case) as con:
        for statement in sql:
            con.execute(statement)
    return f"sqlite:///{case}"


def run_with(env: dict[str, str], case_url: str, roll_url: str,
             *extra: str) -> subprocess.CompletedProcess[str]:
    return databook("run", "--as-at", AS_AT.isoformat(), "--source-url", case_url,
                    "--roll-url", roll_url, *extra, env=env)


def test_a_blocking_failure_stops_publishing_and_the_report_says_why(
        home: tuple[Path, dict[str, str]], council: Council, tmp_path: Path) -> None:
    state, env = home
    before = drop_bytes(state)
    duplicate_person = broken_case(
        council, tmp_path, "ALTER TABLE DM_PERSONS RENAME TO P0",
        "CREATE TABLE DM_PERSONS AS SELECT * FROM P0",
        "INSERT INTO DM_PERSONS SELECT * FROM P0 WHERE PERSON_ID IN "
        "(SELECT PERSON_ID FROM DM_CIN_REFERRALS LIMIT 1)")
    done = run_with(env, duplicate_person, council.roll_url)
    assert done.returncode == BLOCKED, done.stderr[-2000:]
    last = done.stderr.strip().splitlines()[-1]
    expectation = "source.DM_PERSONS: expect_column_values_to_be_unique(PERSON_ID)"
    assert last.startswith("databook: publishing blocked: 2 blocking expectation(s) failed: ")
    assert expectation in last and "report: " in last
    assert "findings: expect_column_values_to_be_between(duplicate-key)" in last
    assert drop_bytes(state) == before

    shown = databook("report", "--latest", env=env)
    page = Path(shown.stdout.strip().splitlines()[-1])
    assert page.is_file() and page.name == "report.html"
    assert json.loads((page.parent / "run.json").read_text())["status"] == "blocked"
    dom = browser_text(page, tmp_path / "chromium")
    assert "Status: blocked" in dom and expectation in dom
    docs = page.parent / "gx" / "uncommitted" / "data_docs" / "local_site" / "index.html"
    assert docs.is_file() and "DM_PERSONS" in browser_text(docs, tmp_path / "chromium")


def test_drift_blocks_until_an_officer_accepts_it_with_a_reason(
        home: tuple[Path, dict[str, str]], council: Council, tmp_path: Path) -> None:
    state, env = home
    store = LocalStore(state / "drop")
    before, previous = drop_bytes(state), latest(store)
    no_plans = broken_case(council, tmp_path, "DELETE FROM DM_REGISTRATIONS")

    blocked = run_with(env, no_plans, council.roll_url)
    assert blocked.returncode == BLOCKED
    last = blocked.stderr.strip().splitlines()[-1]
    assert f"drift since run {previous}: cp_current" in last and "--accept-drift" in last
    assert drop_bytes(state) == before

    reason = "CP register moved to a new module on Mosaic (ticket 4711)"
    accepted = run_with(env, no_plans, council.roll_url, "--accept-drift", reason)
    assert accepted.returncode == 0, accepted.stderr[-2000:]
    new = latest(store)
    assert new != previous and accepted.stdout.strip().endswith(str(new))
    document = manifest.verify(store, str(new), Keystore.open(state).public_keys())
    assert document["drift"]["accepted"] == reason
    assert document["drift"]["since"] == previous
    assert document["totals"]["cp_current"] == 0
    assert any(c["measure"] == "cp_current" for c in document["drift"]["changes"])


def test_a_child_whose_person_row_lost_its_id_blocks_publishing(
        home: tuple[Path, dict[str, str]], council: Council, tmp_path: Path) -> None:
    """a DM_PERSONS row with a NULL PERSON_ID used to drop the child
    silently and publish with exit 0."""
    state, env = home
    before = drop_bytes(state)
    no_id = broken_case(
        council, tmp_path, "ALTER TABLE DM_PERSONS RENAME TO P0",
        "CREATE TABLE DM_PERSONS AS SELECT * FROM P0", "DROP TABLE P0",
        "UPDATE DM_PERSONS SET PERSON_ID = NULL WHERE PERSON_ID = "
        "(SELECT PERSON_ID FROM DM_CIN_REFERRALS ORDER BY REFERRAL_ID LIMIT 1)")
    done = run_with(env, no_id, council.roll_url)
    assert done.returncode == BLOCKED, done.stderr[-2000:]
    last = done.stderr.strip().splitlines()[-1]
    assert "findings: expect_column_values_to_be_between(case-of-unknown-person)" in last
    assert drop_bytes(state) == before
    record = Path(last.rsplit("report: ", 1)[1]).parent
    findings = (record / "findings.csv").read_text()
    assert "case-of-unknown-person,DM_CIN_REFERRALS," in findings
    assert "missing-key,DM_PERSONS.PERSON_ID," in findings


def test_drift_is_still_caught_when_latest_is_deleted(
        home: tuple[Path, dict[str, str]], council: Council, tmp_path: Path) -> None:
    """with ``latest`` gone the gate compares with the newest signed run
    instead of failing open."""
    state, env = home
    (state / "drop" / "latest").unlink()
    before = drop_bytes(state)
    no_plans = broken_case(council, tmp_path, "DELETE FROM DM_REGISTRATIONS")
    blocked = run_with(env, no_plans, council.roll_url)
    assert blocked.returncode == BLOCKED, blocked.stderr[-2000:]
    last = blocked.stderr.strip().splitlines()[-1]
    assert "cp_current" in last
    assert drop_bytes(state) == before
    record = json.loads((Path(last.rsplit("report: ", 1)[1]).parent / "run.json").read_text())
    assert "`latest` is missing; compared with run" in record["validation"]["drift"][0]
