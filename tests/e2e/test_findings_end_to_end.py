"""The findings history's goals through real ``databook run``s (a real Prefect server, the
demo council's real SQLite sources), with the database of runs on the embedded default and on
the real PostgreSQL: two runs on the same source leave every finding persisting; a record
fixed in the source between runs is resolved; a new bad record is new. The worklist command
and the report say the same, and no id reaches the run's log or its Prefect-facing output."""

from __future__ import annotations

import csv
import io
import shutil
import sqlite3
from pathlib import Path

import pytest

from schemas.source import PERIOD_COLUMNS, primary_key
from tests.support import AS_AT, Council, Run, databook

pytestmark = pytest.mark.prefect


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def runs_db(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return ""  # the default: $DATABOOK_HOME/runs/runs.sqlite
    url: str = request.getfixturevalue("pg_url")
    return url


def run_once(env: dict[str, str], case_url: str, roll_url: str) -> None:
    done = databook("run", "--as-at", AS_AT.isoformat(), "--source-url", case_url,
                    "--roll-url", roll_url, env=env)
    assert done.returncode == 0, done.stderr[-3000:]


def worklist(env: dict[str, str], *options: str) -> list[dict[str, str]]:
    done = databook("findings", "--latest", "--format", "csv", *options, env=env)
    assert done.returncode == 0, done.stderr
    return list(csv.DictReader(io.StringIO(done.stdout)))


def test_persisting_resolved_and_new_across_real_runs(
        run: Run, prefect_api: str, council: Council, runs_db: str, tmp_path: Path) -> None:
    home = tmp_path / "home"
    # The session's real run on the demo council is the first run (its history is in the
    # default database of runs); on PostgreSQL the first run is made here.
    shutil.copytree(run.home, home, ignore=shutil.ignore_patterns("prefect"))
    env = run.env | {"DATABOOK_HOME": str(home), "PREFECT_HOME": str(home / "prefect"),
                     "PREFECT_API_URL": prefect_api}
    if runs_db:
        env["DATABOOK_RUNS_DATABASE_URL"] = runs_db
        run_once(env, council.case_url, council.roll_url)
    case = tmp_path / "case.sqlite"
    shutil.copy(council.case_path, case)
    case_url = f"sqlite:///{case}"

    first = worklist(env, "--status", "new,persisting,accepted,resolved")
    assert first and {r["status"] for r in first} == {"new"}
    run_once(env, case_url, council.roll_url)
    second = worklist(env, "--status", "new,persisting,accepted,resolved")
    assert {r["status"] for r in second} == {"persisting"}
    key = ("rule", "table", "record")
    assert sorted(tuple(r[k] for k in key) for r in second) == sorted(
        tuple(r[k] for k in key) for r in first)

    # Between runs the case system fixes one record and gets one new bad record.
    fixed = next(r for r in first if r["rule"] == "end-before-start")
    start, end = PERIOD_COLUMNS[fixed["table"]]
    with sqlite3.connect(case) as con:
        con.execute(f"UPDATE {fixed['table']} SET {end} = {start} "
                    f"WHERE {primary_key(fixed['table'])} = ?", (int(fixed["record"]),))
        flagged = {int(r["record"]) for r in first if r["rule"] == "missing-date-of-birth"}
        healthy = next(p for (p,) in con.execute(
            "SELECT PERSON_ID FROM DM_PERSONS WHERE DATE_OF_BIRTH IS NOT NULL "
            "ORDER BY PERSON_ID") if p not in flagged)
        con.execute("UPDATE DM_PERSONS SET DATE_OF_BIRTH = NULL WHERE PERSON_ID = ?",
                    (healthy,))
    run_once(env, case_url, council.roll_url)
    third = {(r["rule"], r["table"], r["record"]): r for r in
             worklist(env, "--status", "new,persisting,accepted,resolved")}
    assert third[("end-before-start", fixed["table"], fixed["record"])]["status"] == "resolved"
    assert third[("missing-date-of-birth", "DM_PERSONS", str(healthy))]["status"] == "new"
    changed = {k for k, r in third.items() if r["status"] != "persisting"}
    assert changed == {("end-before-start", fixed["table"], fixed["record"]),
                       ("missing-date-of-birth", "DM_PERSONS", str(healthy))}
    persisting = next(r for r in third.values() if r["status"] == "persisting")
    assert persisting["first_seen"] and int(persisting["nights_open"]) >= 0

    newest = max((home / "runs").glob("*/report.html"), key=lambda p: p.parent.name)
    page = newest.read_text("utf-8")
    assert ">1</span>new tonight" in page and ">1</span>resolved tonight" in page
    log = (newest.parent / "run.log").read_text("utf-8")
    assert "findings: 1 new, " in log and f" {healthy}" not in log.split("findings: ")[-1]
