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

from databook.ledger.config import AuditError, LedgerConfigError, from_settings
from databook.ledger.note import Signer, cosigner
from databook.ledger.witness import WitnessError, trust_key, trusted_key_path
from databook.ledger.witness import run as run_witness
from flows.settings import SettingsError, load
from publish.errors import KeystoreError
from publish.keystore import Keystore

ERRORS: tuple[type[Exception], ...] = (SettingsError, LedgerConfigError, WitnessError,
                                       AuditError, KeystoreError)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("witness", help="the ledger witness on the nightly host")
    cmds = p.add_subparsers(dest="witness_command", required=True)
    trusting = cmds.add_parser("trust-key", help="trust the portal ledger's public key "
                            "(`databook audit public-key` on the portal host; - reads stdin)")
    trusting.add_argument("file")
    trusting.set_defaults(handler=trust)
    cmds.add_parser("run", help="check the ledger only grew, and co-sign its checkpoint"
                    ).set_defaults(handler=once)


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

    def witness_key() -> Signer:
        key = Keystore.open(settings.home, settings.master_key).witness_key()
        return cosigner(config.witness_name, bytes.fromhex(key.private_hex))

    print(run_witness(settings, config, witness_key, skip_unreachable=False).message)
    return 0
