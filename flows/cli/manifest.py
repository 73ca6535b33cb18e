"""``databook manifest verify``: check a published run against a trusted key."""

from __future__ import annotations

import argparse
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import load_pem_public_key

from databook.drop import RUN_ID, ManifestError, listed_files
from databook.store import DropStore, LocalStore
from flows.settings import SettingsError, load
from publish import manifest
from publish.errors import KeystoreError, PublishError
from publish.keystore import Keystore

ERRORS: tuple[type[Exception], ...] = (KeystoreError, PublishError, ManifestError,
                                       SettingsError)


def register(sub: argparse._SubParsersAction) -> None:
    man = sub.add_parser("manifest", help="check a published run")
    man_sub = man.add_subparsers(dest="manifest_command", required=True)
    verify = man_sub.add_parser("verify", help="check a run's signature and every file's hash")
    verify.add_argument("run", help="a run folder, or a run id in the configured drop")
    verify.add_argument("--public-key", type=Path, help="trusted public key PEM (default: the "
                        "keystore's keys)")
    verify.set_defaults(handler=handle)


def trusted_key(path: Path) -> dict[str, str]:
    """The one key given on the command line, refused unless it is an Ed25519 public key PEM."""
    try:
        pem = path.read_text("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "it is not text"
        raise SettingsError(f"--public-key {path} cannot be read: {reason}") from None
    try:
        key = load_pem_public_key(pem.encode())
    except (ValueError, TypeError):
        raise SettingsError(f"--public-key {path} is not a PEM public key") from None
    if not isinstance(key, Ed25519PublicKey):
        raise SettingsError(f"--public-key {path} is not an Ed25519 public key")
    return {manifest.key_id_of(pem): pem}


def handle(args: argparse.Namespace) -> int:
    keys = trusted_key(args.public_key) if args.public_key else None
    local = Path(args.run)
    store: DropStore
    if local.is_dir():
        store, run_id = LocalStore(local.resolve().parent), local.resolve().name
    elif local.exists():
        raise SettingsError(f"{args.run} is a file: give a run folder, or a run id in the drop")
    elif RUN_ID.match(args.run):
        store, run_id = load().open_drop(), args.run
    else:
        raise SettingsError(f"{args.run!r} is neither a run folder nor a run id like "
                            "20261121T020003.512345Z-1a2b3c")
    if keys is None:
        settings = load()
        keys = Keystore.open(settings.home, settings.master_key).public_keys()
    try:
        document = manifest.verify(store, run_id, keys)
    finally:
        store.close()
    files = listed_files(document)
    partners = len(document.get("partners", []))
    print(f"verified run {run_id}: signature good, all {len(files)} files match "
          f"({len(document['schools'])} schools"
          f"{f', {partners} partners' if partners else ''})")
    return 0
