"""``databook partners``: the register of multi-agency partners and their agreements.

``import`` checks every row before it writes any, in one transaction (and one ledger entry);
``export`` writes the same columns, so the register round-trips through a spreadsheet.
``escalation`` lists partners who get no databook today because their data-sharing agreement
is not signed or its review date has passed, as the nightly run's report does.
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path
from typing import Any

from sqlalchemy import select

from databook.ledger import record
from portal.cli.schools import ERRORS as SCHOOL_ERRORS
from portal.cli.schools import _session, _settings, _today
from portal.migrate import upgrade
from portal.registers import partner_csv, partner_store
from portal.registers.config import database_url
from portal.registers.csvio import RegisterError
from portal.registers.partners import Partner
from schemas.partners import agreement_current, lapse_reason

#: As ``databook schools`` (a register error, a settings error): settings are loaded the
#: same way, through that module, so this one imports nothing of the nightly side itself.
ERRORS: tuple[type[Exception], ...] = SCHOOL_ERRORS


def register(sub: Any) -> None:
    """Add ``databook partners ...`` to the command line."""
    partners = sub.add_parser("partners", help="the register of multi-agency partners")
    cmds = partners.add_subparsers(dest="partners_command", required=True)
    load = cmds.add_parser("import", help="load the partner register from CSV (all or nothing)")
    load.add_argument("file", help="CSV with the partner register's columns "
                      "(docs/reference/registers.md); '-': standard input")
    load.add_argument("--remove-absent", action="store_true",
                      help="remove the partners the file no longer lists (without it, an "
                      "import that would leave them is refused and names them)")
    load.set_defaults(handler=import_partners)
    dump = cmds.add_parser("export", help="print the partner register as CSV")
    dump.set_defaults(handler=export_partners)
    esc = cmds.add_parser("escalation", help="partners whose data-sharing agreement is not "
                          "current (they get no databook)")
    esc.add_argument("--format", choices=("table", "csv"), default="table")
    esc.add_argument("--as-at", help="the date to judge by (default: today, London)")
    esc.set_defaults(handler=escalation)


def import_partners(args: argparse.Namespace) -> int:
    settings = _settings()
    records = partner_csv.read_file(Path(args.file), _today(None))  # all rows checked first
    upgrade(database_url(settings))  # the partner tables arrive with migration 0004
    with _session(settings, write=True) as session:
        listed = {r.partner_id for r in records}
        absent = [row for row in session.scalars(select(Partner).order_by(Partner.partner_id))
                  if row.partner_id not in listed]
        if absent and not args.remove_absent:
            raise RegisterError(
                f"{len(absent)} partner(s) in the register are not in the file "
                f"({', '.join(r.partner_id for r in absent[:10])}"
                f"{', ...' if len(absent) > 10 else ''}): nothing was imported; run again with "
                "--remove-absent to remove them, or add them to the file")
        counts = partner_store.save(session, records)
        for row in absent:  # its users lose the partner with it: no more downloads
            session.delete(row)
            record(session, "register_changed", what="partner_removed", rows=1,
                   partner_id=row.partner_id)
        record(session, "register_changed", what="partners_import",
               rows=counts.added + counts.changed)
    print(f"imported {len(records)} partners: {counts.added} added, {counts.changed} changed, "
          f"{counts.unchanged} unchanged, {len(absent)} removed")
    return 0


def export_partners(args: argparse.Namespace) -> int:
    with _session(_settings()) as session:
        records = partner_store.load_all(session)
    sys.stdout.write(partner_csv.to_csv(records))
    return 0


def escalation(args: argparse.Namespace) -> int:
    today = _today(args.as_at)
    with _session(_settings()) as session:
        records = partner_store.load_all(session)
    header = ["partner_id", "name", "dsa_signed_on", "dsa_review_on", "detail"]
    rows = [[r.partner_id, r.name, str(r.dsa_signed_on or ""), str(r.dsa_review_on or ""),
             lapse_reason(r, today)] for r in records if not agreement_current(r, today)]
    if args.format == "csv":
        writer = csv.writer(sys.stdout)
        writer.writerows([header, *[[_safe(c) for c in row] for row in rows]])
        return 0
    if not rows:
        print(f"every partner's agreement is current on {today.isoformat()}")
        return 0
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
    return 0


def _safe(cell: str) -> str:
    """A cell a spreadsheet would run as a formula gets a leading apostrophe (names were
    checked on import, but the export may be opened anywhere)."""
    return f"'{cell}" if cell.startswith(("=", "+", "-", "@")) else cell
