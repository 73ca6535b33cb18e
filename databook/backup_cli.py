"""``databook backup`` and ``databook restore``, on either host.

``backup`` writes one archive (``databook.archive``) of the host it runs on: ``--host portal``
(the portal database, its state folder and trusted keys) or ``--host nightly`` (the keystore
and the home folder with the witness's memory); by default the nightly host where the home
holds a keystore, else the portal. ``restore`` reads the host from the archive, checks every
member's digest and the council before touching anything, and refuses to go back over a newer
host without ``--force``.
"""

from __future__ import annotations

import argparse
import importlib
import os
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType

from databook import archive
from databook.archive import BackupError
from databook.settings import KEYSTORE_FILE, home_of

ERRORS: tuple[type[Exception], ...] = (BackupError,)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("backup", help="write this host's backup archive")
    p.add_argument("--host", choices=archive.HOSTS, help="which host's state (default: "
                   "nightly where the home has a keystore, else portal)")
    p.add_argument("--out", type=Path, help="the archive (default: "
                   "databook-HOST-TIME.tar.gz here)")
    p.set_defaults(handler=backup)
    r = sub.add_parser("restore", help="restore this host from a backup archive")
    r.add_argument("file", type=Path)
    r.add_argument("--force", action="store_true",
                   help="restore even over a host newer than the backup")
    r.set_defaults(handler=restore)


def _host(given: str | None) -> str:
    if given:
        return given
    return "nightly" if (home_of(os.environ) / KEYSTORE_FILE).is_file() else "portal"


#: Each host's side, by module name: resolved at run time, as ``databook.cli`` resolves its
#: command groups, so the neutral core imports neither host's code (and a portal host, which
#: has no nightly libraries, never loads them). Each has ``backup()`` and ``restore(archive,
#: force=...)``, reading its own host's settings.
HOST_MODULES = {"portal": "portal.backup", "nightly": "flows.backup"}


def _side(host: str) -> ModuleType:
    try:
        return importlib.import_module(HOST_MODULES[host])
    except ModuleNotFoundError as exc:
        raise BackupError(f"this installation has no {exc.name}: back up and restore the "
                          f"{host} host on the {host} host") from None


def backup(args: argparse.Namespace) -> int:
    host = _host(args.host)
    made: archive.Archive = _side(host).backup()
    out = args.out or Path(f"databook-{host}-{datetime.now(UTC):%Y%m%dT%H%M%SZ}.tar.gz")
    path = archive.write(made, out)
    print(f"backed up the {host} host ({len(made.members)} files, {made.council})")
    print(path)
    return 0


def restore(args: argparse.Namespace) -> int:
    found = archive.read(args.file)
    print(_side(found.host).restore(found, force=args.force))
    return 0
