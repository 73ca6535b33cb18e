"""The keystore: every school's password, the key that pseudonymises person ids in manifests,
and the council's manifest signing keys, encrypted at rest with Fernet under a master key.

The master key comes from ``DATABOOK_MASTER_KEY`` (production: from the council's secret
store) or, for the demo, from ``master.key`` in the state folder, generated with mode 0600 the
first time. A keystore whose master key has gone missing is an error, never a reason to start
afresh: a new key would orphan every password the schools already hold.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import secrets
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

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

    def rotate_password(self, urn: int) -> str:
        """A new password for one school (the old one stops opening new files)."""
        self.password(urn)  # a school never published has nothing to rotate
        self._schools[str(urn)] = {"password": new_password(),
                                   "created": datetime.now(UTC).isoformat()}
        self.save()
        return self._schools[str(urn)]["password"]

    def restore_password(self, urn: int, password: str) -> None:
        """Undo a rotation whose re-publication failed."""
        self._schools[str(urn)] = {"password": password,
                                   "created": datetime.now(UTC).isoformat()}
        self.save()

    # -- pseudonyms ------------------------------------------------------------------------
    def pseudonymiser(self) -> Pseudonymiser:
        key = self._data.get("pseudonym_key")
        if not isinstance(key, str):
            key = secrets.token_hex(32)
            self._data["pseudonym_key"] = key
            self.save()
        return Pseudonymiser(bytes.fromhex(key))

    # -- signing keys ----------------------------------------------------------------------
    @property
    def _signing(self) -> list[dict[str, str]]:
        return self._data.setdefault("signing_keys", [])  # type: ignore[return-value]

    def signing_key(self) -> SigningKey:
        """The active signing key, made on first use."""
        if not self._signing:
            return self.rotate_signing_key()
        return SigningKey.from_hex(self._signing[-1]["private"])

    def rotate_signing_key(self) -> SigningKey:
        """A new active key. Older keys keep only their public half, so manifests they signed
        still verify but they can sign nothing more."""
        for entry in self._signing:
            entry.pop("private", None)
        key = SigningKey(Ed25519PrivateKey.generate())
        self._signing.append({"id": key.key_id, "public_pem": key.public_pem,
                              "private": key.private_hex,
                              "created": datetime.now(UTC).isoformat()})
        self.save()
        return key

    def public_keys(self) -> dict[str, str]:
        """Every signing key ever used, by id: PEM text."""
        if not self._signing:
            self.signing_key()
        return {e["id"]: e["public_pem"] for e in self._signing}

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


class Pseudonymiser:
    """HMAC-SHA-256 of a case person id: the same child gets the same pseudonym in every
    manifest, and only a holder of the keystore can tell whose it is."""

    def __init__(self, key: bytes) -> None:
        self._key = key

    def __call__(self, person_id: int) -> str:
        return hmac.new(self._key, str(int(person_id)).encode(), hashlib.sha256).hexdigest()


class SigningKey:
    def __init__(self, private: Ed25519PrivateKey) -> None:
        self._private = private

    @classmethod
    def from_hex(cls, text: str) -> SigningKey:
        return cls(Ed25519PrivateKey.from_private_bytes(bytes.fromhex(text)))

    def sign(self, data: bytes) -> bytes:
        return self._private.sign(data)

    @property
    def private_hex(self) -> str:
        return self._private.private_bytes(serialization.Encoding.Raw,
                                           serialization.PrivateFormat.Raw,
                                           serialization.NoEncryption()).hex()

    @property
    def public_pem(self) -> str:
        return self._private.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()

    @property
    def key_id(self) -> str:
        raw = self._private.public_key().public_bytes(serialization.Encoding.Raw,
                                                      serialization.PublicFormat.Raw)
        return hashlib.sha256(raw).hexdigest()[:16]
