"""ECMA-376 agile encryption (AES-256, SHA-512): what Excel itself uses for "Encrypt with
Password", so a school opens the file in Excel or LibreOffice by typing its password.

Nearly all the cost of encrypting a file is the 100,000-round password hash, and it depends
only on the password and the *password* salt. So each school has one random password salt and
the three keys derived from it (a :class:`SchoolKey`, kept in the keystore under the master
key and replaced whenever the password rotates), and every file still gets its own random
32-byte secret key, keyData salt, verifier and 64-byte HMAC key. See
docs/explanation/encryption.md.

Built on msoffcrypto-tool's own building blocks (its private API: the version is pinned in
pyproject.toml, and tests read every file back with msoffcrypto and with LibreOffice).
"""

from __future__ import annotations

import base64
import io
import secrets
from dataclasses import dataclass
from hashlib import sha512

import msoffcrypto
from msoffcrypto.method.container.ecma376_encrypted import ECMA376Encrypted
from msoffcrypto.method.ecma376_agile import (
    ECMA376Agile,
    ECMA376AgileEncryptionInfo,
    _decrypt_aes_cbc,
    _encrypt_aes_cbc,
    blkKey_encryptedKeyValue,
    blkKey_encryptedVerifierHashValue,
    blkKey_VerifierHashInput,
)

#: Never lowered: it is what makes guessing a password slow.
SPIN_COUNT = 100_000
SALT_BYTES = 16
SECRET_KEY_BYTES = 32
KEY_BITS = 256


@dataclass(frozen=True, repr=False)
class SchoolKey:
    """A school's password salt and the three keys its password derives (MS-OFFCRYPTO
    2.3.4.11-13). Opens every file of the school without guessing: as secret as the password."""

    salt: bytes
    verifier_input_key: bytes
    verifier_hash_key: bytes
    key_encryption_key: bytes

    def to_json(self) -> dict[str, str]:
        return {name: base64.b64encode(value).decode() for name, value in (
            ("salt", self.salt), ("verifier_input_key", self.verifier_input_key),
            ("verifier_hash_key", self.verifier_hash_key),
            ("key_encryption_key", self.key_encryption_key))}

    @classmethod
    def from_json(cls, data: dict[str, str]) -> SchoolKey:
        return cls(*(base64.b64decode(data[name]) for name in (
            "salt", "verifier_input_key", "verifier_hash_key", "key_encryption_key")))

    @property
    def key_id(self) -> str:
        """Names the key (its salt is random and public in every file), never reveals it."""
        return self.salt.hex()


def derive(password: str, salt: bytes | None = None) -> SchoolKey:
    """The expensive part, done once per school and password: ~60-180 ms here."""
    salt = salt if salt is not None else secrets.token_bytes(SALT_BYTES)
    if len(salt) != SALT_BYTES:
        raise ValueError("the password salt must be 16 bytes")
    hashed = ECMA376Agile._derive_iterated_hash_from_password(
        password, salt, "SHA512", SPIN_COUNT).digest()
    keys = (ECMA376Agile._derive_encryption_key(hashed, block, "SHA512", KEY_BITS)
            for block in (blkKey_VerifierHashInput, blkKey_encryptedVerifierHashValue,
                          blkKey_encryptedKeyValue))
    return SchoolKey(salt, *keys)


def derive_for(item: tuple[int, str]) -> tuple[int, SchoolKey]:
    """``derive`` for one (URN, password) pair: a top-level function a process pool can map."""
    return item[0], derive(item[1])


def _encryption_info(key: SchoolKey) -> tuple[ECMA376AgileEncryptionInfo, bytes]:
    """Fresh per-file secrets (secret key, keyData salt, verifier) under the school's keys."""
    info = ECMA376AgileEncryptionInfo()
    info.spinCount = SPIN_COUNT
    info.encryptedKey.saltValue = key.salt
    verifier = secrets.token_bytes(SALT_BYTES)
    info.encryptedVerifierHashInput = _encrypt_aes_cbc(verifier, key.verifier_input_key,
                                                       key.salt)
    info.encryptedVerifierHashValue = _encrypt_aes_cbc(sha512(verifier).digest(),
                                                       key.verifier_hash_key, key.salt)
    secret_key = secrets.token_bytes(SECRET_KEY_BYTES)
    info.encryptedKeyValue = _encrypt_aes_cbc(secret_key, key.key_encryption_key, key.salt)
    info.keyData.saltValue = secrets.token_bytes(SALT_BYTES)
    return info, secret_key


def encrypt(plain: bytes, key: SchoolKey | str) -> bytes:
    """An encrypted OLE container for ``plain``. Given a password rather than a cached key
    (tests, one-off use), it derives one first: the slow path."""
    school_key = derive(key) if isinstance(key, str) else key
    info, secret_key = _encryption_info(school_key)
    payload = ECMA376Agile.encrypt_payload(io.BytesIO(plain), info.encryptedKey, secret_key,
                                           info.keyData.saltValue)
    # Draws the 64-byte HMAC key at random and encrypts it and the HMAC under the secret key.
    encryption_info = ECMA376Agile.get_encryption_information(info, payload, secret_key)
    out = io.BytesIO()
    ECMA376Encrypted(payload, encryption_info).write_to(out)
    return out.getvalue()


def decrypt(data: bytes, password: str) -> bytes:
    """For checks and tests: raises ``msoffcrypto.exceptions.InvalidKeyError`` on a wrong
    password, and refuses a file whose HMAC does not match."""
    office = msoffcrypto.OfficeFile(io.BytesIO(data))
    office.load_key(password=password, verify_password=True)
    out = io.BytesIO()
    office.decrypt(out, verify_integrity=True)
    return out.getvalue()


def decrypt_with_key(data: bytes, key: SchoolKey) -> bytes:
    """Open a file with the school's cached key instead of its password (no hashing), checking
    the file was made under that key and its HMAC."""
    office = msoffcrypto.OfficeFile(io.BytesIO(data))
    info = getattr(office, "info", None)
    if not isinstance(info, dict) or info.get("passwordSalt") != key.salt:
        raise ValueError("the file was not encrypted under this school key")
    secret_key = _decrypt_aes_cbc(info["encryptedKeyValue"], key.key_encryption_key, key.salt)
    office.load_key(secret_key=secret_key)
    out = io.BytesIO()
    office.decrypt(out, verify_integrity=True)
    return out.getvalue()


def rekey(data: bytes, old: SchoolKey, new: SchoolKey) -> bytes:
    """The same workbook under a school's new key: a password rotated while a run was under
    way must not leave that run's file readable only with the old password."""
    return encrypt(decrypt_with_key(data, old), new)
