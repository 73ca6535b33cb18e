"""``databook schools``: the council's register of protocols, agreements and chasing letters.

``import`` checks every row before it writes any, in one transaction; ``export`` writes the
same columns, so a register can go out to a spreadsheet and back. ``escalation`` is the list
for the Education Board with the register's other gaps.
"""

from __future__ import annotations

import argparse
import csv
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from databook.clock import parse_date
from databook.database import engine_for
from databook.ledger import record, sealing
from portal.audit.sources import AuditError, latest_manifest
from portal.cli.signing import signs_on_exit
from portal.config import SettingsError, load
from portal.migrate import upgrade
from portal.registers import csvio, demo, store
from portal.registers import escalation as report
from portal.registers.audit import record_confirmed, record_import, record_round, record_suspended
from portal.registers.config import confirmation_days, database_url, governance, urns_with_dsl
from portal.registers.confirmations import newly_suspended, request_round, standings, user_id_for
from portal.registers.csvio import RegisterError
from portal.registers.models import SchoolRegister
from portal.registers.record import SchoolRecord

ERRORS: tuple[type[Exception], ...] = (RegisterError, SettingsError)


def register(sub: Any) -> None:
    """Add ``databook schools ...`` to the command line."""
    schools = sub.add_parser("schools", help="the register of schools' protocols and agreements")
    cmds = schools.add_subparsers(dest="schools_command", required=True)
    load = cmds.add_parser("import", help="load the register from a CSV file (all or nothing)")
    load.add_argument("file", type=Path,
                      help="CSV with the register's columns (docs/reference/registers.md); "
                           "'-': standard input")
    load.add_argument("--remove-absent", action="store_true",
                      help="remove the schools the file no longer lists (without it, an "
                      "import that would leave them is refused and names them)")
    load.set_defaults(handler=signs_on_exit(import_register))
    dump = cmds.add_parser("export", help="print the register as CSV (the columns import reads)")
    dump.set_defaults(handler=export_register)
    esc = cmds.add_parser("escalation", help="schools to escalate (nothing returned after two "
                          "letters), out-of-date agreements, schools with no named DSL")
    esc.add_argument("--format", choices=("table", "csv"), default="table")
    esc.add_argument("--as-at", help="the date to judge by (default: today, London)")
    esc.set_defaults(handler=escalation)
    ask = cmds.add_parser("confirm-round", help="start this term's round: every named DSL "
                          "must be confirmed again by their school")
    ask.add_argument("--school", type=int, metavar="URN", help="one school only")
    ask.set_defaults(handler=signs_on_exit(confirm_round))
    yes = cmds.add_parser("confirm", help="record a school's confirmation that a user is "
                          "still its DSL (lifts a suspension)")
    yes.add_argument("email")
    yes.add_argument("--school", type=int, metavar="URN", required=True)
    yes.add_argument("--by", required=True, help="who confirmed, e.g. Headteacher")
    yes.set_defaults(handler=signs_on_exit(confirm))
    where = cmds.add_parser("confirmations", help="where each named DSL stands this term")
    where.add_argument("--school", type=int, metavar="URN")
    where.add_argument("--format", choices=("table", "csv"), default="table")
    where.set_defaults(handler=confirmations)
    lapse = cmds.add_parser("suspend-lapsed", help="record in the ledger every DSL whose "
                            "confirmation window has lapsed (run daily; the portal refuses "
                            "them either way)")
    lapse.set_defaults(handler=signs_on_exit(suspend_lapsed))
    demo = cmds.add_parser("demo-register", help="print the demo council's register as CSV")
    demo.add_argument("--as-at", help="the date the demo register is made for")
    demo.set_defaults(handler=demo_register)


def _settings() -> Any:
    return load()


def _versions(settings: Any) -> Any:
    return governance(settings)


def _today(text: str | None) -> date:
    try:
        return parse_date(text)
    except ValueError as exc:
        raise SettingsError(str(exc)) from None


@contextmanager
def _session(settings: Any, write: bool = False) -> Iterator[Session]:
    """One transaction on the portal database; a database fault becomes one safe line (the
    driver's own message can carry the URL or the statement's values)."""
    url = database_url(settings)
    try:
        upgrade(url)  # a first command on a fresh DATABOOK_HOME makes the database it needs
    except (SQLAlchemyError, OSError) as exc:
        raise RegisterError(f"the portal database could not be set up ({type(exc).__name__});"
                            " check DATABOOK_PORTAL_DATABASE_URL") from None
    engine = sealing.attach(engine_for(url), settings.portal.state_dir)
    try:
        with Session(engine) as session, session.begin():
            yield session
    except SQLAlchemyError as exc:
        raise RegisterError(f"the portal database could not be {'written' if write else 'read'}"
                            f" ({type(exc).__name__}); has it been set up?") from None
    finally:
        engine.dispose()


def import_register(args: argparse.Namespace) -> int:
    settings = _settings()
    records = csvio.read_file(args.file, _today(None))  # every row checked before any write
    with _session(settings, write=True) as session:
        listed = {r.urn for r in records}
        absent = [row for row in session.scalars(select(SchoolRegister).order_by(
            SchoolRegister.urn)) if row.urn not in listed]
        if absent and not args.remove_absent:
            raise RegisterError(
                f"{len(absent)} school(s) in the register are not in the file "
                f"({', '.join(str(r.urn) for r in absent[:10])}"
                f"{', ...' if len(absent) > 10 else ''}): nothing was imported; run again with "
                "--remove-absent to remove them, or add them to the file")
        counts = store.save(session, records)
        for row in absent:  # their protocol goes with them: no databook until re-added
            session.delete(row)
            record(session, "register_changed", urn=row.urn, what="school_removed", rows=1)
        record_import(session, counts)
    print(f"imported {len(records)} schools: {counts.added} added, {counts.changed} changed, "
          f"{counts.unchanged} unchanged, {len(absent)} removed")
    return 0


def export_register(args: argparse.Namespace) -> int:
    """The register as CSV, and every school of the latest run not on it yet (unsigned, with
    its name: ready to fill in and import back). The first-day workflow is export, a
    spreadsheet, import: on a home with a published run, never a header alone."""
    settings = _settings()
    with _session(settings) as session:
        records = store.load_all(session)
    known = {r.urn for r in records}
    run = report.run_schools(_latest(settings))
    records += [SchoolRecord(urn=urn, name=name) for urn, name in run.items() if urn not in known]
    sys.stdout.write(csvio.to_csv(records))
    return 0


def escalation(args: argparse.Namespace) -> int:
    settings = _settings()
    today = _today(args.as_at)
    with _session(settings) as session:
        records = store.load_all(session)
        named = urns_with_dsl(session)
    lines = report.report(records, today, _versions(settings), named,
                          report.run_schools(_latest(settings)))
    sys.stdout.write(report.as_csv(lines) if args.format == "csv" else report.as_table(lines))
    return 0


def _latest(settings: Any) -> dict[str, Any] | None:
    """The latest run's manifest, for its schools with nobody named; without a readable drop
    (a council host before its first run) the register's schools alone, said on stderr."""
    try:
        return latest_manifest(settings)[1]
    except (AuditError, OSError, ValueError) as exc:
        print(f"note: the latest run's schools are not listed: {exc}", file=sys.stderr)
        return None


def demo_register(args: argparse.Namespace) -> int:
    settings = _settings()
    url = str(settings.roll_url)
    if url.startswith("sqlite:///") and not Path(url.removeprefix("sqlite:///")).is_file():
        raise RegisterError(f"there is no school roll at {url.removeprefix('sqlite:///')} yet:"
                            " run `databook demo-data` first (or set DATABOOK_ROLL_URL)")
    schools = demo.open_schools(url)
    sys.stdout.write(csvio.to_csv(demo.demo_register(schools, _today(args.as_at),
                                                     _versions(settings))))
    return 0


def _window(settings: Any) -> int:
    return confirmation_days(settings)


def confirm_round(args: argparse.Namespace) -> int:
    settings = _settings()
    today = _today(None)
    with _session(settings, write=True) as session:
        asked = request_round(session, today, args.school)
        record_round(session, asked, args.school)
    until = today + timedelta(days=_window(settings))
    print(f"asked for {asked} DSLs to be confirmed; anyone not confirmed by "
          f"{until.isoformat()} is suspended until their school confirms them")
    return 0


def confirm(args: argparse.Namespace) -> int:
    by = " ".join(args.by.split())
    if not by or len(by) > 200:
        raise RegisterError("--by must say who confirmed, in at most 200 characters")
    with _session(_settings(), write=True) as session:
        user_id = user_id_for(session, args.email, args.school)
        if user_id is None:
            raise RegisterError(f"{args.email} is not a named DSL at school {args.school}")
        store.confirm(session, user_id, args.school, by, _today(None))
        record_confirmed(session, user_id, args.email, args.school)
    print(f"confirmed {args.email} as a DSL of school {args.school}")
    return 0


def confirmations(args: argparse.Namespace) -> int:
    settings = _settings()
    with _session(settings) as session:
        found = standings(session, _today(None), _window(settings), args.school)
    header = ["urn", "email", "state", "requested_on", "confirmed_on", "confirmed_by"]
    rows = [[str(s.urn), s.email, s.state, str(s.requested_on or ""),
             str(s.confirmed_on or ""), s.confirmed_by] for s in found]
    if args.format == "csv":
        csv.writer(sys.stdout).writerows([header, *rows])
    else:
        widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
        for row in [header, *rows]:
            print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
    return 0


def suspend_lapsed(args: argparse.Namespace) -> int:
    settings = _settings()
    window = _window(settings)
    with _session(settings, write=True) as session:
        lapsed = newly_suspended(session, _today(None), window)
        for one in lapsed:
            record_suspended(session, one, window)
    print(f"{len(lapsed)} DSLs newly suspended")
    return 0
