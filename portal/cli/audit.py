"""``databook audit``: the council officer's view of the download ledger.

``verify`` exits 1 naming the first entry or checkpoint that does not match; ``witness`` exits 1
and alerts on a rewritten, truncated or forked history; the reports print a table (or CSV) of
counts, URNs, users and pseudonyms only.
"""

from __future__ import annotations

import argparse
import base64
import json
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from databook.alerts import send_event
from databook.ledger import reports, sealing
from databook.ledger.collection import check as uncollected_check
from databook.ledger.config import (
    AuditError,
    LedgerConfig,
    LedgerConfigError,
    from_settings,
    ledger_engine,
    load_signer,
    session,
)
from databook.ledger.log import cosigned_note, size
from databook.ledger.models import LedgerCheckpoint, LedgerEntry
from databook.ledger.note import NoteError, Verifier, new_signer, parse_vkey
from databook.ledger.receipts import ReceiptError, make
from databook.ledger.receipts import check as check_receipt
from databook.ledger.recovery import RecoveryError, accept_restore, replay, said
from databook.ledger.rotation import first_key, rotate, undo
from databook.ledger.seen import check_and_remember
from databook.ledger.tail import sign_tail, stale_tail
from databook.ledger.verify import LedgerBroken, verify_ledger
from databook.ledger.witness import WitnessError
from databook.ledger.witness import run as witness_pass
from databook.tables import print_rows
from portal.audit.sources import (
    manifest_keys,
    manifests,
    person_id,
    pseudonym,
    school_phases,
    witness_signer,
)
from portal.cli import samples
from portal.config import PortalHostSettings, load

ERRORS: tuple[type[Exception], ...] = (AuditError, LedgerBroken, WitnessError, ReceiptError,
                                       LedgerConfigError, NoteError, sealing.LedgerForged,
                                       sealing.NoEntryKey)


def register(sub: Any) -> None:
    """Add ``databook audit ...`` to the command line."""
    audit = sub.add_parser("audit", help="the download ledger: verify, receipts, reports")
    cmds = audit.add_subparsers(dest="audit_command", required=True)
    p = cmds.add_parser("verify", help="recompute the ledger and check every checkpoint")
    p.add_argument("--key", help="the ledger's public key to trust (default: the portal's)")
    p.add_argument("--accept-restore", action="store_true",
                   help="after a restore: record the entries the last verify saw that the "
                   "restored ledger lacks as lost, then verify")
    p.set_defaults(handler=verify)
    p = cmds.add_parser("recover", help="after a restore: put back, from the witness's copy "
                        "(witness/entries.jsonl on the nightly host), the entries the restored "
                        "ledger lacks")
    p.add_argument("--copy", type=Path, required=True, metavar="FILE",
                   help="the witness's copy of the entries it co-signed")
    p.set_defaults(handler=recover)
    cmds.add_parser("public-key", help="the ledger's verifier key (Go note format)"
                    ).set_defaults(handler=public_key)
    cmds.add_parser("rotate-key", help="a new ledger signing key, announced in the ledger "
                    "and signed over by the old one (no re-trusting by hand)"
                    ).set_defaults(handler=rotate_key)
    p = cmds.add_parser("export", help="JSON lines of entries and checkpoints")
    p.add_argument("--since", type=int, default=0, metavar="INDEX")
    p.set_defaults(handler=export)
    p = cmds.add_parser("receipt", help="the receipt of entry N (JSON)")
    p.add_argument("index", type=int, metavar="N")
    p.set_defaults(handler=receipt)
    p = cmds.add_parser("check-receipt", help="check a receipt file offline with a public key")
    p.add_argument("file", type=argparse.FileType("r"))
    p.add_argument("--key", required=True, help="the ledger's public key (audit public-key)")
    p.set_defaults(handler=check_receipt_file)
    cmds.add_parser("witness", help="check the ledger only grew, and co-sign its checkpoint"
                    ).set_defaults(handler=witness)
    p = cmds.add_parser("downloads", help="who downloaded what, when and why")
    p.add_argument("--school", type=int, metavar="URN")
    p.add_argument("--partner", metavar="ID", help="one multi-agency partner's downloads")
    p.add_argument("--user", metavar="EMAIL")
    p.add_argument("--since", metavar="DATE")
    p.add_argument("--format", choices=("table", "csv"), default="table")
    p.set_defaults(handler=downloads)
    p = cmds.add_parser("child", help="which files held one child, who downloaded them, and "
                        "who looked the child up")
    p.add_argument("who", metavar="UPN_OR_PERSON_ID")
    p.set_defaults(handler=child)
    p = cmds.add_parser("usage", help="per month: downloads, schools, phases, children, "
                        "look-ups")
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
    samples.register(cmds)  # sample checks and the yearly summary per school


def recover(args: argparse.Namespace) -> int:
    """The portal host's half of a restore: the witness's copy of what it co-signed, put back
    byte for byte and sealed here (only this host holds the entry key); the next checkpoint
    then extends the very tree the witness saw, and `databook witness run` passes again."""
    _settings, config = _context()
    if not args.copy.is_file():
        raise AuditError(f"there is no witness copy at {args.copy}")
    engine = ledger_engine(config)
    try:
        with session(engine) as db:
            try:
                first, end = replay(db, args.copy)
            except RecoveryError as exc:
                raise AuditError(str(exc)) from None
            db.commit()
    finally:
        engine.dispose()
    print(said(first, end))
    return 0


def _context() -> tuple[PortalHostSettings, LedgerConfig]:
    settings = load()
    return settings, from_settings(settings)


def verify(args: argparse.Namespace) -> int:
    """Rebuild the tree and check every checkpoint; then fail an entry left out of
    every checkpoint longer than the tail window, and a ledger that lost checkpoints or
    cosignatures the witness or the last verify saw (``databook.ledger.seen``)."""
    settings, config = _context()
    engine = ledger_engine(config)  # first: with no ledger yet, say what to run first
    try:
        with session(engine) as db:
            if not args.key and not config.key_path.exists() and size(db) == 0:
                print("the ledger has no entries and no signing key yet: nothing to verify")
                return 0
            if args.accept_restore:
                print(accept_restore(db, Path(settings.home)))
                sign_tail(db, config)
                db.commit()
            verifier = parse_vkey(args.key) if args.key else _own_verifier(config, db)
            entry_key = sealing.load_key(config.state_dir, create=False)
            result = verify_ledger(db, verifier, entry_key=entry_key,
                                   host_head=sealing.load_head(config.state_dir))
            stale = stale_tail(db, config)
            if stale is not None:
                raise LedgerBroken(stale)
            check_and_remember(db, Path(settings.home))
    finally:
        engine.dispose()
    print(f"ledger verified: {result.entries} entries, {result.checkpoints} checkpoints, "
          f"{result.cosignatures} cosignatures; root {base64.b64encode(result.root).decode()}")
    if entry_key is None:
        print("entry seals not checked: this host does not hold the portal's entry key (run "
              "`databook audit verify` on the portal host as well)")
    return 0


def _own_verifier(config: LedgerConfig, db: Session) -> Verifier:
    """The ledger's own public key. The portal makes its key when it signs its first
    checkpoint, so a young ledger (entries from ``users add``, no checkpoint yet) has none:
    there is no signature to check, and its entries are still verified. A missing key with
    checkpoints present is an error."""
    if config.key_path.exists() or db.scalar(select(func.count()).select_from(
            LedgerCheckpoint)):
        # The first key: later ones are followed through the ledger's rotation entries.
        return first_key(config) or load_signer(config, create=False).verifier
    return new_signer(config.origin).verifier  # never saved; it checks nothing


def rotate_key(_args: argparse.Namespace) -> int:
    _settings, config = _context()
    old_skey = load_signer(config, create=False).skey()
    engine = ledger_engine(config)
    try:
        with session(engine) as db:
            try:
                old, new = rotate(db, config)
                db.commit()
            except BaseException:
                db.rollback()
                undo(config, old_skey)
                raise
    finally:
        engine.dispose()
    print(f"the ledger now signs with {new}")
    print(f"(announced in the ledger and signed over by {old}: the witness and audit verify "
          "follow it without a new trust-key)")
    return 0


def public_key(_args: argparse.Namespace) -> int:

    _settings, config = _context()
    print(load_signer(config).verifier.vkey())
    return 0


def export(args: argparse.Namespace) -> int:

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

    _settings, config = _context()
    engine = ledger_engine(config)
    try:
        with session(engine) as db:
            print(json.dumps(make(db, args.index, config), indent=1, ensure_ascii=False))
    finally:
        engine.dispose()
    return 0


def check_receipt_file(args: argparse.Namespace) -> int:
    try:
        data = json.load(args.file)
    except ValueError:
        raise ReceiptError("the receipt file is not JSON") from None
    entry = check_receipt(data, args.key)
    print(f"receipt valid: entry {entry['index']} ({entry['kind']}) is in the ledger")
    return 0


def witness(_args: argparse.Namespace) -> int:

    settings, config = _context()
    print(witness_pass(settings, config, lambda: witness_signer(settings, config),
                       skip_unreachable=False).message)
    return 0


def alert(settings: PortalHostSettings, what: str, status: str, error: str,
          report: str = "") -> list[str]:
    """Send to the configured alert channels (databook.alerts) a record-like message."""
    return send_event(settings, what, status, error, report)


def downloads(args: argparse.Namespace) -> int:

    _settings, config = _context()
    try:
        since = reports.since_date(args.since)
    except ValueError as exc:
        raise AuditError(str(exc)) from None
    engine = ledger_engine(config)
    try:
        with session(engine) as db:
            rows = reports.downloads(db, args.school, args.user, since,
                                     getattr(args, "partner", None))
    finally:
        engine.dispose()
    print_rows(rows, args.format)
    return 0


def child(args: argparse.Namespace) -> int:

    settings, config = _context()
    name = pseudonym(settings, person_id(settings, args.who))
    engine = ledger_engine(config)
    try:
        with session(engine) as db:
            files, hits = reports.child(db, name, manifests(settings))
            looked = reports.child_lookups(db, name)
    finally:
        engine.dispose()
    print(f"files that held this child ({len(files)}):")
    print_rows(files)
    print(f"downloads of those files ({len(hits)}):")
    print_rows(hits)
    print(f"look-ups of this child's record ({len(looked)}):")
    print_rows(looked)
    return 0


def usage(args: argparse.Namespace) -> int:

    settings, config = _context()
    engine = ledger_engine(config)
    try:
        with session(engine) as db:
            rows = reports.usage(db, manifests(settings), school_phases(settings))
    finally:
        engine.dispose()
    print_rows(rows, args.format)
    return 0


def irregular(args: argparse.Namespace) -> int:

    settings, config = _context()
    engine = ledger_engine(config)
    try:
        with session(engine) as db:
            rows = reports.irregular(db, config, manifests(settings))
    finally:
        engine.dispose()
    print_rows(rows, args.format)
    return 0


def uncollected(args: argparse.Namespace) -> int:

    settings, config = _context()
    found = uncollected_check(settings, config, manifest_keys(settings), alert=args.alert)
    print_rows(found.schools)
    return 0
