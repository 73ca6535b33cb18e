"""``databook audit reveals``: who was shown a school's or a partner's password, on this
nightly host, and when (``databook.reveals``)."""

from __future__ import annotations

import argparse
import json

from databook.reveals import describe, read_reveals
from flows.settings import SettingsError, load

ERRORS: tuple[type[Exception], ...] = (SettingsError,)


def register(sub: argparse._SubParsersAction) -> None:
    audit = sub.add_parser("audit", help="the record of password reveals on this host")
    cmds = audit.add_subparsers(dest="audit_command", required=True)
    p = cmds.add_parser("reveals", help="every `databook keys reveal`: when, the OS user, the "
                        "host, which school or partner (never the password)")
    p.add_argument("--json", action="store_true", help="JSON lines instead of a table")
    audit.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    entries = read_reveals(load().home)
    for entry in entries:
        print(json.dumps(entry, sort_keys=True) if args.json else describe(entry))
    if not entries and not args.json:
        print("no password has been revealed on this host")
    return 0
