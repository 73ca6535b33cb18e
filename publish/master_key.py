"""Re-encrypting the keystore under a new master key (``databook keys rotate --master``), so
that a crash at any moment leaves a keystore that opens.

The steps, each durable before the next: (1) the keystore is read and checked with the current
key (a wrong key stops here, nothing written); (2) a note that a rotation is under way, with
the new key's fingerprint (never the key), and, where the key lives in ``master.key`` (the
demo), the new key beside it as ``master.key.next``; (3) the keystore re-encrypted under the
new key replaces the old in one rename; (4) ``master.key.next`` replaces ``master.key``;
(5) the note goes. Killed before (3), the old key still opens the old keystore; after it, the
new key opens the new one: ``Keystore.open`` finishes a demo rotation by itself, and for a key
kept in ``DATABOOK_MASTER_KEY`` says which key (by fingerprint) now opens the keystore.

A production key (``DATABOOK_MASTER_KEY``) is never made here: the officer makes it with
``databook keys new-master``, stores it in the council's secret store first, and passes it as
``DATABOOK_NEW_MASTER_KEY``, so no crash can lose the only copy of the key that opens the
keystore.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path

from cryptography.fernet import Fernet

from databook.fsio import write_file
from databook.settings import KEYSTORE_FILE
from publish.errors import KeystoreError
from publish.keystore import (
    MASTER_KEY_FILE,
    NEXT_KEY,
    ROTATION_NOTE,
    Keystore,
    _fernet,
    _HomeLock,
    fingerprint,
)


def _step(name: str) -> None:
    """Where a test stops the rotation as a crash would (``kill -9`` of this process)."""
    if os.environ.get("DATABOOK_FAULT_KILL_AT") == f"rotate-master:{name}":
        os.kill(os.getpid(), signal.SIGKILL)


def rotate(home: Path, current: str | None, given: str | None = None) -> str:
    """Re-encrypt the keystore in ``home`` under ``given`` (or, for a demo key kept in
    ``master.key``, a new one); returns the new key."""
    if current and not given:
        raise KeystoreError("the master key is set by DATABOOK_MASTER_KEY: make the new one "
                            "with `databook keys new-master`, keep it in your secret store, then "
                            "run this again with DATABOOK_NEW_MASTER_KEY set to it")
    new_key = (given or Fernet.generate_key().decode()).strip()
    new = _fernet(new_key, "DATABOOK_NEW_MASTER_KEY")
    keystore = Keystore.open(home, current)  # a wrong current key stops here
    with _HomeLock.for_home(home).held():
        with keystore.locked():
            plain = keystore._fernet.decrypt((home / KEYSTORE_FILE).read_bytes())
        if new.decrypt(new.encrypt(b"check")) != b"check" or _opens(keystore, new_key):
            raise KeystoreError("the new master key is the current one; make another with "
                                "`databook keys new-master`")
        write_file(home / ROTATION_NOTE, f"new key {fingerprint(new_key)}\n".encode())
        if not current:
            write_file(home / NEXT_KEY, new_key.encode() + b"\n")
        _step("before-keystore")
        write_file(home / KEYSTORE_FILE, new.encrypt(plain))
        _step("after-keystore")
        if not current:
            os.replace(home / NEXT_KEY, home / MASTER_KEY_FILE)
        (home / ROTATION_NOTE).unlink()
    return new_key


def _opens(keystore: Keystore, key: str) -> bool:
    try:
        Fernet(key).decrypt(keystore.path.read_bytes())
    except Exception:
        return False
    return True
