"""``databook findings``: the data-quality team's worklist, the accepted-finding register and
the weekly summary, from the nightly host's database of runs.

    databook findings [--latest | RUN] [--status new,persisting] [--rule R] [--format F]
    databook findings accept RULE RECORD --reason TEXT [--table T]
    databook findings unaccept RULE RECORD --reason TEXT [--table T]
    databook findings register
    databook findings summary [--send]

Bad input (an unknown rule, run or status, an accept of a finding that is not open) is one line
and exit 1, and changes nothing.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from databook.drop import RUN_ID
from databook.fsio import write_file
from databook.tables import print_rows
from flows.settings import NightlySettings, SettingsError, load, today_in_london
from quality import catalogue, history, summary, worklist
from quality.history import HistoryError

ERRORS: tuple[type[Exception], ...] = (SettingsError, HistoryError)
ACTIONS = ("accept", "unaccept", "register", "summary")
FORMATS = ("table", "csv", "xlsx")
DEFAULT_STATUSES = (history.NEW, history.PERSISTING, history.ACCEPTED)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "findings", help="the data-quality worklist, accepted findings, weekly summary",
        description="A run's findings (default: the latest run's open ones) with what each "
                    "means and how to fix it; or: accept RULE RECORD --reason TEXT, unaccept "
                    "RULE RECORD --reason TEXT, register (the accepted findings and their "
                    "audit trail), summary [--send] (the week's counts).",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("words", nargs="*", metavar="RUN | accept RULE RECORD | unaccept RULE "
                   "RECORD | register | summary")
    p.add_argument("--latest", action="store_true", help="the latest run (the default)")
    p.add_argument("--status", help="comma-separated: new, persisting, accepted, resolved "
                   "(default: new,persisting,accepted)")
    p.add_argument("--rule", help="one rule (docs/reference/findings-rules.md)")
    p.add_argument("--table", help="the finding's table, where a rule and record are in two")
    p.add_argument("--format", choices=FORMATS, default="table")
    p.add_argument("--output", type=Path, help="write to this file (required for xlsx)")
    p.add_argument("--reason", help="why a finding is accepted, or no longer")
    p.add_argument("--send", action="store_true",
                   help="summary: send it to the data-quality channel")
    p.set_defaults(handler=findings)


def findings(args: argparse.Namespace) -> int:
    words = list(args.words)
    action = words[0] if words and words[0] in ACTIONS else None
    _check_options(args, action)
    settings = load()
    try:
        engine = history.open_history(settings.runs_database)
    except SQLAlchemyError as exc:  # the type only: a driver's message can hold the password
        raise SettingsError("cannot open the database of runs (DATABOOK_RUNS_DATABASE_URL): "
                            f"{type(exc).__name__}") from None
    try:
        if action in ("accept", "unaccept"):
            if len(words) != 3:
                raise SettingsError(f"usage: databook findings {action} RULE RECORD --reason "
                                    "TEXT")
            rule, record = words[1], words[2]
            _known_rule(rule)
            if action == "accept":
                key = history.accept(engine, rule, record, args.reason or "", args.table)
                print(f"accepted {key[0]} {key[2]} in {key[1]}: it shows as accepted, not "
                      "as new")
            else:
                key = history.unaccept(engine, rule, record, args.reason or "", args.table)
                print(f"no longer accepted: {key[0]} {key[2]} in {key[1]}")
            return 0
        if action == "register":
            _no_more(words, 1)
            with engine.connect() as conn:
                print("Accepted findings:")
                print_rows(history.accepted_register(conn))
                print("\nAudit trail:")
                print_rows(history.audit_trail(conn))
            return 0
        if action == "summary":
            _no_more(words, 1)
            return _summary(engine, settings, args.send)
        return _worklist(engine, args, words)
    finally:
        engine.dispose()


def _check_options(args: argparse.Namespace, action: str | None) -> None:
    """Options that mean nothing for the action typed are mistakes, said so."""
    given = {"--latest": args.latest, "--status": args.status, "--rule": args.rule,
             "--format": args.format != "table", "--output": args.output,
             "--reason": args.reason, "--send": args.send, "--table": args.table}
    allowed = {None: {"--latest", "--status", "--rule", "--format", "--output"},
               "accept": {"--reason", "--table"}, "unaccept": {"--reason", "--table"},
               "register": set(), "summary": {"--send"}}[action]
    wrong = [name for name, on in given.items() if on and name not in allowed]
    if wrong:
        what = f"findings {action}" if action else "findings (the worklist)"
        raise SettingsError(f"{', '.join(wrong)} cannot be used with databook {what}")


def _no_more(words: list[str], n: int) -> None:
    if len(words) > n:
        raise SettingsError(f"unexpected {' '.join(words[n:])!r}")


def _known_rule(rule: str) -> None:
    if rule not in catalogue.ENTRIES:
        raise SettingsError(f"unknown rule {rule!r} (the rules are listed in "
                            "docs/reference/findings-rules.md)")


def _worklist(engine: Engine, args: argparse.Namespace, words: list[str]) -> int:
    _no_more(words, 1)
    run_id = words[0] if words else None
    if run_id is not None and args.latest:
        raise SettingsError("give a run id or --latest, not both")
    if run_id is not None and not RUN_ID.match(run_id):
        raise SettingsError(f"{run_id!r} is not a run id like 20261121T020003.512345Z-1a2b3c")
    statuses = DEFAULT_STATUSES
    if args.status:
        statuses = tuple(s.strip() for s in args.status.split(",") if s.strip())
        unknown = [s for s in statuses if s not in history.STATUSES]
        if unknown or not statuses:
            named = ", ".join(repr(u) for u in unknown) or repr(args.status)
            raise SettingsError(f"unknown status {named} "
                                f"(choose from {', '.join(history.STATUSES)})")
    if args.rule is not None:
        _known_rule(args.rule)
    if args.format == "xlsx" and args.output is None:
        raise SettingsError("--format xlsx needs --output FILE.xlsx")
    with engine.connect() as conn:
        run = history.find_run(conn, run_id)
        items = worklist.rows(history.run_findings(conn, run, statuses, args.rule))
    title = f"Data-quality worklist: run {run.run_id} ({run.run_date.isoformat()})"
    if args.format == "xlsx":
        write_file(args.output, worklist.xlsx(items, title))
    elif args.format == "csv":
        text = worklist.csv(items)
        if args.output:
            write_file(args.output, text.encode())
        else:
            sys.stdout.write(text)
    else:
        print(f"{title}: {len(items)} finding(s), {', '.join(statuses)}")
        worklist.write_table(items, sys.stdout)
    if args.output:
        print(f"{len(items)} finding(s) written to {args.output}", file=sys.stderr)
    return 0


def _summary(engine: Engine, settings: NightlySettings, send: bool) -> int:
    made = summary.build(engine, today_in_london())
    print(made.subject)
    print(made.body)
    if not send:
        return 0
    sent, failed = summary.send(settings, made, settings.data_quality_webhook,
                                settings.data_quality_email_to)
    if failed:
        raise SettingsError(f"the summary was NOT sent by: {', '.join(failed)}"
                            + (f" (sent by: {', '.join(sent)})" if sent else ""))
    if not sent:
        raise SettingsError("no data-quality channel is configured (DATABOOK_DATA_QUALITY_"
                            "WEBHOOK, DATABOOK_DATA_QUALITY_EMAIL_TO with DATABOOK_ALERT_SMTP, "
                            "or the alert channels)")
    print(f"sent to: {', '.join(sent)}", file=sys.stderr)
    return 0
