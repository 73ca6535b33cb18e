"""``databook schools export`` on a home with a published run: every school of the latest run
is listed (unsigned, named, ready to fill in), beside the register's own rows, so export,
spreadsheet, import is the first day's workflow; and the export imports back."""

from __future__ import annotations

import csv
import io
from datetime import date
from pathlib import Path

from sqlalchemy import delete

from portal.migrate import ready
from portal.registers import store
from portal.registers.models import RegisterLetter, SchoolRegister
from portal.registers.record import SchoolRecord
from schemas.registers import REGISTER_COLUMNS
from tests.support import SCHOOLS, A, clean_env, databook, make_env


def test_export_lists_every_school_of_the_latest_run(tmp_path: Path) -> None:
    env = make_env(tmp_path)
    url = env.settings.portal.database_url
    with ready(url).begin() as db:  # a first day: a run published, an empty register
        db.execute(delete(RegisterLetter))
        db.execute(delete(SchoolRegister))
    environ = clean_env(**env.environ())
    done = databook("schools", "export", env=environ)
    assert done.returncode == 0, done.stderr
    rows = list(csv.DictReader(io.StringIO(done.stdout)))
    assert list(rows[0]) == list(REGISTER_COLUMNS)
    assert [(int(r["urn"]), r["name"]) for r in rows] == sorted(SCHOOLS.items())
    assert all(r["protocol_signed_on"] == "" and r["agreement_signed_on"] == "" for r in rows)
    with ready(url).begin() as db:  # a signed school is exported as the register holds it
        store.save(db, [SchoolRecord(urn=A, name=SCHOOLS[A], protocol_signed_on=date(2026, 9, 1),
                                     protocol_signatory_title="Chair of Governors",
                                     protocol_version="1.0")])
    again = list(csv.DictReader(io.StringIO(databook("schools", "export",
                                                     env=environ).stdout)))
    assert len(again) == 3 and next(r for r in again if int(r["urn"]) == A)[
        "protocol_signed_on"] == "2026-09-01"
    sheet = tmp_path / "register.csv"
    sheet.write_text(databook("schools", "export", env=environ).stdout)
    back = databook("schools", "import", str(sheet), env=environ)
    assert back.returncode == 0, back.stderr
    assert "imported 3 schools: 2 added, 0 changed, 1 unchanged" in back.stdout
