"""``databook schools``: import all or nothing, export round-trips, escalation with dates."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, select, update
from sqlalchemy.orm import Session

from databook.database import engine_for
from portal.models import User, UserSchool
from portal.registers.demo import open_schools
from portal.registers.models import DslConfirmation
from schemas.registers import ESCALATION_COLUMNS, REGISTER_COLUMNS
from tests.support import Council, clean_env, register_tables

HEADER = ",".join(REGISTER_COLUMNS)
GOOD = ("112000,Flagg Nursery School,2025-09-01,Chair of Governors,FGB 2025/14,1.0,"
        "2025-09-01,1.0,2028-09-01,2025-06-01,in_conversation,\n"
        "112017,Ashover Primary School,,,,,,,,2025-06-01;2025-07-01,no_contact,no reply\n")


def databook(*args: str, home: Path, roll_url: str | None = None, stdin: str | None = None
             ) -> subprocess.CompletedProcess[str]:
    env = clean_env(DATABOOK_HOME=str(home))
    if roll_url:
        env["DATABOOK_ROLL_URL"] = roll_url
    return subprocess.run([sys.executable, "-m", "databook", *args], env=env, text=True,
                          input=stdin, capture_output=True, timeout=120, check=False)


@pytest.fixture
def home(tmp_path: Path) -> Path:
    (tmp_path / "portal").mkdir()
    engine: Engine = engine_for(f"sqlite:///{tmp_path / 'portal' / 'portal.sqlite'}")
    register_tables(engine)
    now = datetime.now(UTC)
    with Session(engine) as s, s.begin():  # 112000 has a named DSL, 112017 only a leaver
        for email, urn, state in (("a.dsl@flagg.sch.uk", 112000, "active"),
                                  ("gone@ashover.sch.uk", 112017, "left")):
            s.add(User(email=email, name="A Lead", role="dsl", state=state, created_at=now,
                       schools=[UserSchool(urn=urn, added_at=now)]))
    engine.dispose()
    return tmp_path


def test_import_export_round_trip_and_a_bad_row_imports_nothing(home: Path) -> None:
    sheet = home / "register.csv"
    sheet.write_text(HEADER + "\n" + GOOD)
    done = databook("schools", "import", str(sheet), home=home)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == \
        "imported 2 schools: 2 added, 0 changed, 0 unchanged, 0 removed"
    exported = databook("schools", "export", home=home)
    assert exported.returncode == 0, exported.stderr
    assert exported.stdout.splitlines()[0] == HEADER

    again = home / "again.csv"
    again.write_text(exported.stdout.replace("no reply", "phoned 3 Nov")
                     + "112034,New School,,,,,,,,2026-13-01,,\n")
    failed = databook("schools", "import", str(again), home=home)
    assert failed.returncode == 1
    assert failed.stderr.splitlines() == [
        f"databook: error: {again} line 4, column letters: '2026-13-01' is not a date "
        "(YYYY-MM-DD or DD/MM/YYYY); nothing was imported"]
    unchanged = databook("schools", "export", home=home)
    assert unchanged.stdout == exported.stdout  # the good row before it was not written

    again.write_text(exported.stdout)
    same = databook("schools", "import", str(again), home=home)
    assert same.stdout.strip() == "imported 2 schools: 0 added, 0 changed, 2 unchanged, 0 removed"


def test_escalation_lists_with_dates_as_table_and_csv(home: Path) -> None:
    sheet = home / "register.csv"
    sheet.write_text(HEADER + "\n" + GOOD)
    assert databook("schools", "import", str(sheet), home=home).returncode == 0
    table = databook("schools", "escalation", "--as-at", "2026-11-21", home=home)
    assert table.returncode == 0, table.stderr
    assert table.stdout.splitlines()[0].split() == list(ESCALATION_COLUMNS)
    listed = [line.split()[:2] for line in table.stdout.splitlines()[1:]]
    assert listed == [["requires_escalation", "112017"], ["no_named_dsl", "112017"]]
    out = databook("schools", "escalation", "--format", "csv", "--as-at", "2026-11-21",
                   home=home)
    rows = list(csv.DictReader(io.StringIO(out.stdout)))
    assert [(r["list"], r["urn"], r["first_letter_on"], r["second_letter_on"], r["since"])
            for r in rows] == [("requires_escalation", "112017", "2025-06-01", "2025-07-01",
                                "2025-07-01"), ("no_named_dsl", "112017", "2025-06-01",
                                                "2025-07-01", "")]


def test_bad_input_is_one_line_and_exit_1(home: Path) -> None:
    missing = databook("schools", "import", str(home / "nope.csv"), home=home)
    assert missing.returncode == 1
    assert len(missing.stderr.splitlines()) == 1
    assert missing.stderr.startswith("databook: error: cannot read")
    bad_date = databook("schools", "escalation", "--as-at", "21/11/2026", home=home)
    assert bad_date.returncode == 1 and len(bad_date.stderr.splitlines()) == 1
    env = clean_env(DATABOOK_HOME=str(home),
                    DATABOOK_PORTAL_DATABASE_URL=f"sqlite:///{sheet_file(home)}/portal.sqlite")
    bare = subprocess.run([sys.executable, "-m", "databook", "schools", "export"], env=env,
                          text=True, capture_output=True, timeout=120, check=False)
    assert bare.returncode == 1
    assert bare.stderr.splitlines() == ["databook: error: the portal database could not be set"
                                        " up (FileExistsError); check "
                                        "DATABOOK_PORTAL_DATABASE_URL"]


def sheet_file(home: Path) -> Path:
    """A plain file where a folder is needed: no database can be made under it."""
    path = home / "a-file"
    path.write_text("not a folder")
    return path


def test_demo_register_prints_an_importable_register(home: Path, council: Council) -> None:
    made = databook("schools", "demo-register", "--as-at", "2026-11-21", home=home,
                    roll_url=council.roll_url)
    assert made.returncode == 0, made.stderr
    done = databook("schools", "import", "-", home=home, stdin=made.stdout)
    assert done.returncode == 0, done.stderr
    assert f"imported {len(open_schools(council.roll_url))} schools" in done.stdout
    esc = databook("schools", "escalation", "--as-at", date(2026, 11, 21).isoformat(),
                   home=home)
    assert "requires_escalation" in esc.stdout


def ledger(home: Path) -> list[dict[str, object]]:
    from databook.ledger.models import LedgerEntry

    engine = engine_for(f"sqlite:///{home / 'portal' / 'portal.sqlite'}")
    with Session(engine) as s:
        bodies = s.scalars(select(LedgerEntry.body).order_by(LedgerEntry.idx)).all()
    engine.dispose()
    return [json.loads(b) for b in bodies]


def test_import_is_a_ledger_entry_with_counts_not_notes(home: Path) -> None:
    sheet = home / "register.csv"
    sheet.write_text(HEADER + "\n" + GOOD)
    assert databook("schools", "import", str(sheet), home=home).returncode == 0
    [entry] = ledger(home)
    assert (entry["kind"], entry["what"], entry["rows"]) == ("register_changed", "import", 2)
    assert "no reply" not in json.dumps(entry)


def test_term_round_suspends_the_unconfirmed_once_and_confirming_lifts_it(home: Path) -> None:
    done = databook("schools", "confirm-round", home=home)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("asked for 1 DSLs to be confirmed")  # the leaver is not
    engine = engine_for(f"sqlite:///{home / 'portal' / 'portal.sqlite'}")
    with Session(engine) as s, s.begin():  # the round began 30 days ago
        s.execute(update(DslConfirmation).values(requested_on=date.today() - timedelta(30)))
    engine.dispose()
    listed = databook("schools", "confirmations", "--format", "csv", home=home)
    rows = list(csv.DictReader(io.StringIO(listed.stdout)))
    assert [(r["urn"], r["email"], r["state"]) for r in rows] == \
        [("112000", "a.dsl@flagg.sch.uk", "suspended")]
    assert databook("schools", "suspend-lapsed", home=home).stdout.strip() == \
        "1 DSLs newly suspended"
    assert databook("schools", "suspend-lapsed", home=home).stdout.strip() == \
        "0 DSLs newly suspended"  # each lapse is recorded once

    wrong = databook("schools", "confirm", "a.dsl@flagg.sch.uk", "--school", "112017",
                     "--by", "Headteacher", home=home)
    assert wrong.returncode == 1
    assert wrong.stderr.strip() == ("databook: error: a.dsl@flagg.sch.uk is not a named DSL "
                                    "at school 112017")
    gone = databook("schools", "confirm", "gone@ashover.sch.uk", "--school", "112017",
                    "--by", "Headteacher", home=home)
    assert gone.returncode == 1  # a leaver cannot be confirmed back in
    ok = databook("schools", "confirm", "A.DSL@flagg.sch.uk", "--school", "112000",
                  "--by", "Headteacher", home=home)
    assert ok.returncode == 0, ok.stderr
    listed = databook("schools", "confirmations", "--format", "csv", home=home)
    assert next(iter(csv.DictReader(io.StringIO(listed.stdout))))["state"] == "confirmed"
    kinds = [(e["kind"], e.get("action")) for e in ledger(home)]
    assert kinds == [("council_action", "dsl_confirmation_requested"),
                     ("user_suspended", None), ("council_action", "dsl_confirmed")]


def test_a_school_left_out_of_the_file_is_removed_only_when_asked(home: Path) -> None:
    sheet = home / "register.csv"
    sheet.write_text(HEADER + "\n" + GOOD)
    assert databook("schools", "import", str(sheet), home=home).returncode == 0
    first, second = GOOD.strip().splitlines()[:2]
    sheet.write_text(HEADER + "\n" + first + "\n")
    refused = databook("schools", "import", str(sheet), home=home)
    assert refused.returncode == 1 and "--remove-absent" in refused.stderr
    assert second.split(",")[0] in refused.stderr
    done = databook("schools", "import", "--remove-absent", str(sheet), home=home)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().endswith("1 unchanged, 1 removed")
    exported = databook("schools", "export", home=home).stdout.splitlines()
    assert len(exported) == 2 and exported[1].split(",")[0] == first.split(",")[0]
