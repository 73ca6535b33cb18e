"""Findings with a history on the real databases (embedded SQLite and PostgreSQL): new,
persisting, resolved and accepted across runs; the accepted-finding register and its audit;
bad input changes nothing; retention forgets what no remaining run saw."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.dialects import mssql
from sqlalchemy.schema import CreateTable

from quality import history
from quality.history import ACCEPTED, NEW, PERSISTING, RESOLVED, HistoryError

T0 = datetime(2026, 11, 2, 2, 0, tzinfo=UTC)


def frame(*rows: tuple[str, str, int | None, int | None, str | None]) -> pd.DataFrame:
    out = pd.DataFrame(rows, columns=["rule", "table", "record_id", "person_id", "upn"])
    for c in ("record_id", "person_id"):
        out[c] = out[c].astype("Int64")
    out["upn"] = out["upn"].astype("string")
    return out


def record(n: int) -> dict[str, Any]:
    return {"run_id": f"2026110{n}T020000.000000Z-00000{n}", "as_at": f"2026-11-0{n}",
            "started_at": (T0 + timedelta(days=n)).isoformat(), "status": "published",
            "source_rows": {"DM_PERSONS": 100 + n}, "summary": {"children": 50 + n}}


DOB = ("missing-date-of-birth", "DM_PERSONS", 11, 11, None)
UPN = ("malformed-upn", "DM_PERSONS", 12, 12, "X1")
ENROL = ("malformed-upn", "EDU_ENROLMENTS", 900, None, "Y2")
REF = ("malformed-upn", "DM_PERSON_REFERENCES", 12, 40, "Z3")
LOST = ("missing-key", "DM_CIN_REFERRALS.REFERRAL_ID", None, 13, None)


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    made = history.open_history(db_url)
    yield made
    made.dispose()


def status_of(engine: Engine, rule: str, table: str, record_key: str) -> str:
    with engine.connect() as conn:
        rows = history.run_findings(conn, history.find_run(conn, None))
    return next(r["status"] for r in rows if (r["rule"], r["table"], r["record"]) ==
                (rule, table, record_key))


def statuses(engine: Engine, run_id: str | None = None) -> dict[tuple[str, str], str]:
    with engine.connect() as conn:
        rows = history.run_findings(conn, history.find_run(conn, run_id))
    return {(r["rule"], r["record"]): r["status"] for r in rows}


def test_new_then_persisting_then_resolved_and_new_again(engine: Engine) -> None:
    first = history.record_run(engine, record(1), frame(DOB, UPN, LOST))
    assert first.as_dict() == {NEW: 3, PERSISTING: 0, RESOLVED: 0, ACCEPTED: 0}
    again = history.record_run(engine, record(2), frame(DOB, UPN, LOST, ENROL))
    assert again.as_dict() == {NEW: 1, PERSISTING: 3, RESOLVED: 0, ACCEPTED: 0}
    fixed = history.record_run(engine, record(3), frame(UPN, ENROL))
    assert fixed.as_dict() == {NEW: 0, PERSISTING: 2, RESOLVED: 2, ACCEPTED: 0}
    assert statuses(engine) == {("missing-date-of-birth", "11"): RESOLVED,
                                ("malformed-upn", "12"): PERSISTING,
                                ("malformed-upn", "900"): PERSISTING,
                                ("missing-key", "person 13"): RESOLVED}
    back = history.record_run(engine, record(4), frame(UPN, ENROL, DOB))
    assert back.new == 1 and statuses(engine)[("missing-date-of-birth", "11")] == NEW
    # an earlier run is read as it was
    assert statuses(engine, record(2)["run_id"])[("malformed-upn", "900")] == NEW
    with engine.connect() as conn:
        rows = history.run_findings(conn, history.find_run(conn, None), [PERSISTING])
    upn = next(r for r in rows if r["record"] == "12")
    assert upn["first_seen"].isoformat() == "2026-11-03" and upn["nights_open"] == 3
    assert upn["first_run"] == record(1)["run_id"] and upn["upn"] == "X1"


def test_recording_a_run_twice_changes_nothing(engine: Engine) -> None:
    history.record_run(engine, record(1), frame(DOB))
    history.record_run(engine, record(2), frame(DOB))
    assert history.record_run(engine, record(2), frame()).persisting == 1
    assert statuses(engine) == {("missing-date-of-birth", "11"): PERSISTING}


def test_an_accepted_finding_is_visible_never_new_and_audited(engine: Engine) -> None:
    history.record_run(engine, record(1), frame(DOB, UPN, ENROL, REF))
    with pytest.raises(HistoryError, match=r"in 2 tables .*name one with --table"):
        history.accept(engine, "malformed-upn", "12", "known")
    key = history.accept(engine, "malformed-upn", "12", "  UPN issued abroad;  school "
                         "confirmed ", table="DM_PERSONS")
    assert key == ("malformed-upn", "DM_PERSONS", "12")
    tally = history.record_run(engine, record(2), frame(DOB, UPN, ENROL))
    assert tally.accepted == 1 and tally.persisting == 2
    assert status_of(engine, "malformed-upn", "DM_PERSONS", "12") == ACCEPTED
    # resolved and back: still accepted, never "new"
    history.record_run(engine, record(3), frame(DOB))
    history.record_run(engine, record(4), frame(DOB, UPN))
    assert status_of(engine, "malformed-upn", "DM_PERSONS", "12") == ACCEPTED
    history.unaccept(engine, "malformed-upn", "12", "school corrected it")
    assert status_of(engine, "malformed-upn", "DM_PERSONS", "12") == NEW
    with engine.connect() as conn:
        trail = history.audit_trail(conn)
        assert history.accepted_register(conn) == []
    assert [(t["action"], t["reason"]) for t in trail] == [
        ("accept", "UPN issued abroad; school confirmed"), ("unaccept", "school corrected it")]
    assert all(t["by"] for t in trail)


@pytest.mark.parametrize(("call", "says"), [
    (lambda e: history.accept(e, "no-such-rule", "12", "r"), "no open finding no-such-rule"),
    (lambda e: history.accept(e, "malformed-upn", "99999", "r"), "no open finding"),
    (lambda e: history.accept(e, "malformed-upn", "12", "   "), "--reason"),
    (lambda e: history.accept(e, "missing-date-of-birth", "11", "r"), "already accepted"),
    (lambda e: history.unaccept(e, "malformed-upn", "12", "r"), "is not accepted"),
])
def test_bad_input_is_one_line_and_changes_nothing(engine: Engine, call: Any,
                                                   says: str) -> None:
    history.record_run(engine, record(1), frame(DOB, UPN))
    history.accept(engine, "missing-date-of-birth", "11", "known")
    before = snapshot(engine)
    with pytest.raises(HistoryError, match=says) as caught:
        call(engine)
    assert "\n" not in str(caught.value)
    assert snapshot(engine) == before


def snapshot(engine: Engine) -> list[Any]:
    with engine.connect() as conn:
        return [conn.execute(select(t).order_by(*t.primary_key.columns)).all()
                for t in history.metadata.sorted_tables]


def test_unknown_run_is_an_error(engine: Engine) -> None:
    with engine.connect() as conn, pytest.raises(HistoryError, match="no recorded findings"):
        history.find_run(conn, "20991231T000000.000000Z-abcdef")
    with engine.connect() as conn, pytest.raises(HistoryError, match="no run has recorded"):
        history.find_run(conn, None)


def test_pruning_runs_forgets_what_no_remaining_run_saw(engine: Engine) -> None:
    history.record_run(engine, record(1), frame(DOB, UPN))
    history.record_run(engine, record(2), frame(UPN))  # DOB resolved in run 2
    history.record_run(engine, record(3), frame(UPN))
    assert history.prune_findings(engine, [record(1)["run_id"], "never-recorded"]) == 0
    with engine.connect() as conn:  # run 2 still shows DOB resolved
        assert conn.execute(select(func.count()).select_from(history.findings)).scalar() == 2
    assert history.prune_findings(engine, [record(2)["run_id"]]) == 1
    with engine.connect() as conn:
        left = conn.execute(select(history.findings.c.rule, history.findings.c.first_date)
                            ).all()
        assert [r.rule for r in left] == ["malformed-upn"]
        assert left[0].first_date.isoformat() == "2026-11-03"  # first seen, however old
        assert conn.execute(select(func.count()).select_from(history.counts).where(
            history.counts.c.seq.in_([1, 2]))).scalar() == 0
    assert statuses(engine)[("malformed-upn", "12")] == PERSISTING
    assert history.prune_findings(engine, []) == 0


def test_the_tables_compile_for_sql_server() -> None:
    for table in history.metadata.sorted_tables:
        assert "CREATE TABLE" in str(CreateTable(table).compile(dialect=mssql.dialect()))


def test_the_retention_hook_prunes_through_the_settings(db_url: str, tmp_path: Path) -> None:
    """``flows.data_quality.prune``: what the run-record retention calls with the ids it
    pruned, on the database the settings name."""
    from flows import data_quality
    from flows.settings import load

    settings = load(environ={"DATABOOK_HOME": str(tmp_path / "home"),
                             "DATABOOK_RUNS_DATABASE_URL": db_url})
    assert settings.runs_database == db_url
    engine = history.open_history(db_url)
    history.record_run(engine, record(1), frame(DOB))
    history.record_run(engine, record(2), frame())
    assert data_quality.prune(settings, []) == 0
    assert data_quality.prune(settings, [record(1)["run_id"], record(2)["run_id"]]) == 1
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(history.runs)).scalar() == 0
    engine.dispose()
    default = load(environ={"DATABOOK_HOME": str(tmp_path / "home")}).runs_database
    assert default == f"sqlite:///{tmp_path / 'home' / 'runs' / 'runs.sqlite'}"
