"""``databook witness``: the nightly host's witness of the portal's ledger.

``trust-key`` installs the ledger's PUBLIC key (the line ``databook audit public-key`` prints
on the portal host), mirroring ``databook portal trust-key`` on the other side: the witness
then checks and co-signs with no secret of the portal's. ``run`` is one pass now (the nightly
run makes one every night).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from databook.ledger import sealing
from databook.ledger.config import (
    AuditError,
    LedgerConfig,
    LedgerConfigError,
    from_settings,
    ledger_engine,
    session,
)
from databook.ledger.note import Signer, cosigner
from databook.ledger.recovery import COPY_FILE, RecoveryError, replay, said
from databook.ledger.witness import WitnessError, state_path, trust_key, trusted_key_path
from databook.ledger.witness import run as run_witness
from flows.settings import NightlySettings, SettingsError, load
from publish.errors import KeystoreError
from publish.keystore import Keystore

ERRORS: tuple[type[Exception], ...] = (SettingsError, LedgerConfigError, WitnessError,
                                       AuditError, KeystoreError, RecoveryError)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("witness", help="the ledger witness on the nightly host")
    cmds = p.add_subparsers(dest="witness_command", required=True)
    trusting = cmds.add_parser("trust-key", help="trust the portal ledger's public key "
                            "(`databook audit public-key` on the portal host; - reads stdin)")
    trusting.add_argument("file")
    trusting.set_defaults(handler=trust)
    cmds.add_parser("run", help="check the ledger only grew, and co-sign its checkpoint"
                    ).set_defaults(handler=once)
    cmds.add_parser("recover", help="after the portal database was restored from a backup: "
                    "re-append the entries the witness holds, then co-sign"
                    ).set_defaults(handler=recover)


def trust(args: argparse.Namespace) -> int:
    settings = load()
    if args.file == "-":
        text = sys.stdin.read()
    else:
        try:
            text = Path(args.file).read_text("ascii")
        except (OSError, UnicodeDecodeError):
            raise SettingsError(f"cannot read a ledger public key from {args.file}") from None
    key = trust_key(settings, from_settings(settings), text)
    print(f"the witness now trusts the ledger key {key.name}+{key.key_id.hex()} "
          f"({trusted_key_path(settings)})")
    return 0


def once(_args: argparse.Namespace) -> int:
    settings = load()
    config = from_settings(settings)
    print(run_witness(settings, config, lambda: _witness_key(settings, config),
                      skip_unreachable=False).message)
    return 0


def _witness_key(settings: NightlySettings, config: LedgerConfig) -> Signer:
    key = Keystore.open(settings.home, settings.master_key).witness_key()
    return cosigner(config.witness_name, bytes.fromhex(key.private_hex))


def recover(_args: argparse.Namespace) -> int:
    """Put back, byte for byte, the entries the restored database lacks and the witness's copy
    holds; then one witness pass (the portal signs the new tail; on a single host, this
    command does), which co-signs the very tree the witness saw before."""
    settings = load()
    config = from_settings(settings)
    copy = state_path(settings).with_name(COPY_FILE.name)
    if not copy.exists():
        raise RecoveryError(f"the witness has no copy of the ledger at {copy}: nothing to "
                            "re-append")
    engine = ledger_engine(config)
    try:
        with session(engine) as db:
            if sealing.key_of(db) is None:  # two hosts: the portal host puts entries back
                raise RecoveryError(f"this host holds no ledger entry key: copy {copy} to the "
                                    "portal host, run `databook audit recover --copy FILE` "
                                    "there, then `databook witness run` here")
            first, end = replay(db, copy)
            db.commit()
    finally:
        engine.dispose()
    print(said(first, end))
    print(run_witness(settings, config, lambda: _witness_key(settings, config),
                      skip_unreachable=False).message)
    print("entries the portal recorded after the witness's last pass and before the backup's "
          "restore are lost; on the portal host, `databook audit verify --accept-restore` "
          "records them")
    return 0
