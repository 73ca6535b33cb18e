"""The nightly host's backup and restore: its home folder (the keystore, the run records, the
witness's memory, its copy of the ledger's entries and the ledger key it trusts), never the
drop (every run in it is on the portal host too, and the next run publishes afresh) nor the
demo's databases.

The master key is not in the archive when it comes from ``DATABOOK_MASTER_KEY`` (production):
the archive alone then opens nothing, and the master key is backed up apart, in the council's
secret store. (The demo's ``master.key`` file is in the home, so in the archive.)
"""

from __future__ import annotations

import json
from typing import Any

from databook.archive import Archive, BackupError, files_under, put_files, same_council
from databook.settings import KEYSTORE_FILE
from flows.settings import NightlySettings, load
from publish.errors import KeystoreError
from publish.keystore import Keystore

#: Top-level entries of the home that are not backed up.
SKIP = frozenset({"drop", "demo", "portal", "prefect-server", "prefect"})
WITNESS_STATE = "witness/ledger.json"


def identity(settings: NightlySettings) -> str | None:
    """The council's nightly host, named by its keystore's first signing key."""
    if not (settings.home / KEYSTORE_FILE).is_file():
        return None
    try:
        keys = Keystore.open(settings.home, settings.master_key).public_keys()
    except KeystoreError as exc:
        raise BackupError(str(exc)) from None
    return f"keystore {next(iter(keys))}"


def _witnessed(members: dict[str, bytes]) -> int:
    data = members.get(f"home/{WITNESS_STATE}")
    try:
        return int(json.loads(data)["size"]) if data else 0
    except (ValueError, KeyError, TypeError):
        return 0


def backup() -> Archive:
    """This nightly host, as its settings say."""
    return backup_of(load())


def restore(archive: Archive, *, force: bool) -> str:
    return restore_into(load(), archive, force=force)


def backup_of(settings: NightlySettings) -> Archive:
    council = identity(settings)
    if council is None:
        raise BackupError(f"there is no keystore in {settings.home}: nothing to back up (check "
                          "DATABOOK_HOME)")
    members = files_under(settings.home, "home", SKIP)
    keys = Keystore.open(settings.home, settings.master_key).public_keys()
    facts: dict[str, Any] = {"witnessed": _witnessed(members), "signing_keys": len(keys)}
    return Archive("nightly", council, facts, members)


def restore_into(settings: NightlySettings, archive: Archive, *, force: bool) -> str:
    same_council(archive, identity(settings), "this host")
    here = files_under(settings.home, "home", SKIP)
    if not force and here:
        now, then = _witnessed(here), int(archive.facts.get("witnessed") or 0)
        keys = len(Keystore.open(settings.home, settings.master_key).public_keys()) if (
            settings.home / KEYSTORE_FILE).is_file() else 0
        if now > then or keys > int(archive.facts.get("signing_keys") or 0):
            raise BackupError(f"this host is newer than the backup (the witness co-signed {now} "
                              f"entries against {then}, {keys} signing keys against "
                              f"{archive.facts.get('signing_keys')}); add --force to restore "
                              "it anyway")
    count = put_files(archive.members, "home", settings.home)
    return (f"restored {count} files of the nightly host from the backup of "
            f"{archive.created_at} into {settings.home}")
