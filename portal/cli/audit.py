"""``databook audit``: the council officer's view of the download ledger.

``verify`` exits 1 naming the first entry or checkpoint that does not match; ``witness`` exits 1
and alerts on a rewritten, truncated or forked history; the reports print a table (or CSV) of
counts, URNs, users and pseudonyms only.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from collections.abc import Sequence
from typing import Any

from portal.ledger.config import LedgerConfigError
from portal.ledger.note import NoteError
from portal.ledger.receipts import ReceiptError
from portal.ledger.sources import AuditError
from portal.ledger.verify import LedgerBroken
from portal.ledger.witness import WitnessError

ERRORS: tuple[type[Exception], ...] = (AuditError, LedgerBroken, WitnessError, ReceiptError,
                                       LedgerConfigError, NoteError)


def register(sub: Any) -> None:
    """Add ``databook audit ...`` to the command line."""
    audit = sub.add_parser("audit", help="the download ledger: verify, receipts, reports")
    cmds = audit.add_subparsers(dest="audit_command", required=True)
    p = cmds.add_parser("verify", help="recompute the ledger and check every checkpoint")
    p.add_argument("--key", help="the ledger's public key to trust (default: the portal's)")
    p.set_defaults(handler=verify)
    cmds.add_parser("public-key", help="the ledger's verifier key (Go note format)"
                    ).set_defaults(handler=public_key)
    p = cmds.add_parser("export", help="JSON lines of entries and checkpoints")
    p.add_argument("--since", type=int, default=0, metavar="INDEX")
    p.set_defaults(handler=export)
    p = cmds.add_parser("receipt", help="the receipt of entry N (JSON)")
    p.add_argument("index", type=int, metavar="N")
    p.set_defaults(handler=receipt)
    p = cmds.add_parser("check-receipt", help="check a receipt file offline with a public key")
    p.add_argument("file", type=argparse.FileType("r"))
    p.add_argument("--key", required=True, help="the ledger's public key (audit public-key)")
    p.set_defaults(handler=check_receipt)
    cmds.add_parser("witness", help="check the ledger only grew, and co-sign its checkpoint"
                    ).set_defaults(handler=witness)
    p = cmds.add_parser("downloads", help="who downloaded what, when and why")
    p.add_argument("--school", type=int, metavar="URN")
    p.add_argument("--user", metavar="EMAIL")
    p.add_argument("--since", metavar="DATE")
    p.add_argument("--format", choices=("table", "csv"), default="table")
    p.set_defaults(handler=downloads)
    p = cmds.add_parser("child", help="which files held one child, and who downloaded them")
    p.add_argument("who", metavar="UPN_OR_PERSON_ID")
    p.set_defaults(handler=child)
    p = cmds.add_parser("usage", help="per month: downloads, schools, phases, children")
    p.add_argument("--by", choices=("month",), default="month")
    p.add_argument("--format", choices=("table", "csv"), default="table")
    p.set_defaults(handler=usage)
    p = cmds.add_parser("irregular", help="out of hours, bursts, failed sign-ins, the impossible")
    p.add_argument("--format", choices=("table", "csv"), default="table")
    p.set_defaults(handler=irregular)
    p = cmds.add_parser("uncollected", help="schools that have not collected their latest "
                        "databook (with --alert: send it to the alert channels)")
    p.add_argument("--alert", action="store_true")
    p.set_defaults(handler=uncollected)


def _context() -> tuple[Any, Any]:
    from flows.settings import load
    from portal.ledger.config import from_settings

    settings = load()
    return settings, from_settings(settings)


def _print_rows(rows: Sequence[dict[str, Any]], fmt: str = "table") -> None:
    """A table (or CSV) on the officer's terminal: every cell's control and bidi characters
    shown, never obeyed (issue 19)."""
    from portal.plain_text import neutral

    rows = [{k: neutral(v) if isinstance(v, str) else v for k, v in row.items()}
            for row in rows]
    columns: list[str] = []
    for row in rows:
        columns += [c for c in row if c not in columns]
    if fmt == "csv":
        writer = csv.DictWriter(sys.stdout, columns, restval="")
        writer.writeheader()
        writer.writerows(rows)
        return
    if not rows:
        print("(none)")
        return
    widths = {c: max(len(c), *(len(str(r.get(c, ""))) for r in rows)) for c in columns}
    print("  ".join(c.ljust(widths[c]) for c in columns).rstrip())
    for row in rows:
        print("  ".join(str(row.get(c, "")).ljust(widths[c]) for c in columns).rstrip())


def verify(args: argparse.Namespace) -> int:
    """Rebuild the tree and check every checkpoint; then (issue 19) fail an entry left out of
    every checkpoint longer than the tail window, and a ledger that lost checkpoints or
    cosignatures the witness or the last verify saw (``portal.ledger.seen``)."""
    import base64
    from pathlib import Path

    from portal.ledger.config import load_signer
    from portal.ledger.log import size
    from portal.ledger.note import parse_vkey
    from portal.ledger.seen import check_and_remember
    from portal.ledger.sources import ledger_engine, session
    from portal.ledger.tail import stale_tail
    from portal.ledger.verify import verify_ledger

    settings, config = _context()
    engine = ledger_engine(config)
    try:
        with session(engine) as db:
            if not args.key and not config.key_path.exists() and size(db) == 0:
                print("the ledger has no entries and no signing key yet: nothing to verify")
                return 0
            verifier = (parse_vkey(args.key) if args.key
                        else load_signer(config, create=False).verifier)
            result = verify_ledger(db, verifier)
            stale = stale_tail(db, config)
            if stale is not None:
                raise LedgerBroken(stale)
            check_and_remember(db, Path(settings.home))
    finally:
        engine.dispose()
    print(f"ledger verified: {result.entries} entries, {result.checkpoints} checkpoints, "
          f"{result.cosignatures} cosignatures; root {base64.b64encode(result.root).decode()}")
    return 0


def public_key(_args: argparse.Namespace) -> int:
    from portal.ledger.config import load_signer

    _settings, config = _context()
    print(load_signer(config).verifier.vkey())
    return 0


def export(args: argparse.Namespace) -> int:
    from sqlalchemy import select

    from portal.ledger.log import cosigned_note
    from portal.ledger.models import LedgerCheckpoint, LedgerEntry
    from portal.ledger.sources import ledger_engine, session

    _settings, config = _context()
    engine = ledger_engine(config)
    try:
        with session(engine) as db:
            query = select(LedgerEntry.idx, LedgerEntry.body, LedgerEntry.leaf_hash).where(
                LedgerEntry.idx >= args.since).order_by(LedgerEntry.idx)
            for idx, body, leaf in db.execute(query.execution_options(yield_per=10_000)):
                print(json.dumps({"index": idx, "entry": bytes(body).decode(),
                                  "leaf_hash": bytes(leaf).hex()}, ensure_ascii=False))
            for row in db.scalars(select(LedgerCheckpoint).order_by(LedgerCheckpoint.size)):
                print(json.dumps({"checkpoint": cosigned_note(db, row)}, ensure_ascii=False))
    finally:
        engine.dispose()
    return 0


def receipt(args: argparse.Namespace) -> int:
    from portal.ledger.receipts import make
    from portal.ledger.sources import ledger_engine, session

    _settings, config = _context()
    engine = ledger_engine(config)
    try:
        with session(engine) as db:
            print(json.dumps(make(db, args.index, config), indent=1, ensure_ascii=False))
    finally:
        engine.dispose()
    return 0


def check_receipt(args: argparse.Namespace) -> int:
    from portal.ledger.receipts import check

    try:
        data = json.load(args.file)
    except ValueError:
        raise ReceiptError("the receipt file is not JSON") from None
    entry = check(data, args.key)
    print(f"receipt valid: entry {entry['index']} ({entry['kind']}) is in the ledger")
    return 0


def witness(_args: argparse.Namespace) -> int:
    from portal.ledger import witnessing

    settings, config = _context()
    print(witnessing.run(settings, config, skip_unreachable=False).message)
    return 0


def alert(settings: Any, what: str, status: str, error: str, report: str = "") -> list[str]:
    """Send to the configured alert channels (flows.alerts) a record-like message."""
    from portal.ledger.witnessing import send_alert

    return send_alert(settings, what, status, error, report)


def downloads(args: argparse.Namespace) -> int:
    from portal.ledger import reports
    from portal.ledger.sources import ledger_engine, session

    _settings, config = _context()
    try:
        since = reports.since_date(args.since)
    except ValueError as exc:
        raise AuditError(str(exc)) from None
    engine = ledger_engine(config)
    try:
        with session(engine) as db:
            rows = reports.downloads(db, args.school, args.user, since)
    finally:
        engine.dispose()
    _print_rows(rows, args.format)
    return 0


def child(args: argparse.Namespace) -> int:
    from portal.ledger import reports
    from portal.ledger.sources import ledger_engine, manifests, person_id, pseudonym, session

    settings, config = _context()
    name = pseudonym(settings, person_id(settings, args.who))
    engine = ledger_engine(config)
    try:
        with session(engine) as db:
            files, hits = reports.child(db, name, manifests(settings))
    finally:
        engine.dispose()
    print(f"files that held this child ({len(files)}):")
    _print_rows(files)
    print(f"downloads of those files ({len(hits)}):")
    _print_rows(hits)
    return 0


def usage(args: argparse.Namespace) -> int:
    from portal.ledger import reports
    from portal.ledger.sources import ledger_engine, manifests, school_phases, session

    settings, config = _context()
    engine = ledger_engine(config)
    try:
        with session(engine) as db:
            rows = reports.usage(db, manifests(settings), school_phases(settings))
    finally:
        engine.dispose()
    _print_rows(rows, args.format)
    return 0


def irregular(args: argparse.Namespace) -> int:
    from portal.ledger import reports
    from portal.ledger.sources import ledger_engine, manifests, session

    settings, config = _context()
    engine = ledger_engine(config)
    try:
        with session(engine) as db:
            rows = reports.irregular(db, config, manifests(settings))
    finally:
        engine.dispose()
    _print_rows(rows, args.format)
    return 0


def uncollected(args: argparse.Namespace) -> int:
    from portal.ledger.collection import check

    settings, config = _context()
    _print_rows(check(settings, config, alert=args.alert).schools)
    return 0
