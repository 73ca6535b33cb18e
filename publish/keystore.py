"""The keystore: every school's password (and later the council's other secrets), encrypted
at rest with Fernet under a master key.

The master key comes from ``DATABOOK_MASTER_KEY`` (production: from the council's secret
store) or, for the demo, from ``master.key`` in the state folder, generated with mode 0600 the
first time. A keystore whose master key has gone missing is an error, never a reason to start
afresh: a new key would orphan every password the schools already hold.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken

from publish.errors import KeystoreError
from publish.fsio import make_private_dir, write_file
from publish.passwords import new_password

log = logging.getLogger(__name__)

KEYSTORE_FILE = "keystore.fernet"
MASTER_KEY_FILE = "master.key"
FORMAT = 1


def _fernet(key: str | bytes, source: str) -> Fernet:
    try:
        return Fernet(key)
    except (ValueError, TypeError):
        raise KeystoreError(
            f"the master key from {source} is not a valid key "
            "(expected 32 url-safe base64-encoded bytes, as made by 'databook keys new-master')"
        ) from None


def _master_key(home: Path, master_key: str | None, keystore_exists: bool) -> Fernet:
    if master_key:
        return _fernet(master_key.strip(), "DATABOOK_MASTER_KEY")
    key_file = home / MASTER_KEY_FILE
    if key_file.is_file():
        return _fernet(key_file.read_bytes().strip(), str(key_file))
    if keystore_exists:
        raise KeystoreError(
            f"the keystore {home / KEYSTORE_FILE} exists but its master key is missing: set "
            f"DATABOOK_MASTER_KEY or restore {key_file}; refusing to create a new key")
    key = Fernet.generate_key()
    make_private_dir(home)
    write_file(key_file, key + b"\n")
    log.warning("generated a demo master key at %s; production should set DATABOOK_MASTER_KEY",
                key_file)
    return Fernet(key)


class Keystore:
    def __init__(self, path: Path, fernet: Fernet, data: dict[str, object]) -> None:
        self.path, self._fernet, self._data = path, fernet, data

    @classmethod
    def open(cls, home: Path, master_key: str | None = None) -> Keystore:
        path = home / KEYSTORE_FILE
        fernet = _master_key(home, master_key, path.exists())
        if not path.exists():
            return cls(path, fernet, {"format": FORMAT, "schools": {}})
        try:
            data = json.loads(fernet.decrypt(path.read_bytes()))
        except InvalidToken:
            raise KeystoreError(
                f"the master key does not open the keystore {path} (wrong key, or the file is "
                "damaged)") from None
        if data.get("format") != FORMAT:
            raise KeystoreError(f"the keystore {path} has an unknown format {data.get('format')}")
        return cls(path, fernet, data)

    @property
    def _schools(self) -> dict[str, dict[str, str]]:
        return self._data.setdefault("schools", {})  # type: ignore[return-value]

    def password(self, urn: int) -> str:
        entry = self._schools.get(str(urn))
        if entry is None:
            raise KeystoreError(
                f"no password for school {urn} yet: it is made on the first run that "
                "publishes the school")
        return entry["password"]

    def ensure_passwords(self, urns: Iterable[int]) -> dict[int, str]:
        """Each school's password, making one for any school that has none (then saving)."""
        made = 0
        for urn in urns:
            if str(urn) not in self._schools:
                self._schools[str(urn)] = {"password": new_password(),
                                           "created": datetime.now(UTC).isoformat()}
                made += 1
        if made:
            self.save()
            log.info("made passwords for %d new school(s)", made)
        return {int(u): e["password"] for u, e in self._schools.items()}

    def save(self) -> None:
        make_private_dir(self.path.parent)
        token = self._fernet.encrypt(json.dumps(self._data, sort_keys=True).encode())
        write_file(self.path, token)
