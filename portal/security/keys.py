"""The portal's own secrets, kept in its state folder (0700, files 0600), never in the
database: a stolen database then holds no key that derives a CSRF token or decrypts a TOTP
secret. Made on first use; a later start reads the same files."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from cryptography.fernet import Fernet

from databook.fsio import private_dir

HMAC_KEY = "portal-hmac.key"
TOTP_KEY = "totp-secrets.fernet-key"


def _read_or_make(state_dir: Path, name: str, make: bytes) -> bytes:
    private_dir(state_dir)
    path = state_dir / name
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_bytes().strip()
    with os.fdopen(fd, "wb") as handle:
        handle.write(make)
        handle.flush()
        os.fsync(handle.fileno())
    return make


def hmac_key(state_dir: Path) -> bytes:
    """Derives CSRF tokens; 256 bits."""
    return bytes.fromhex(_read_or_make(state_dir, HMAC_KEY,
                                       secrets.token_hex(32).encode()).decode())


def totp_cipher(state_dir: Path) -> Fernet:
    """Encrypts TOTP secrets at rest (they must be recoverable to check a code)."""
    return Fernet(_read_or_make(state_dir, TOTP_KEY, Fernet.generate_key()))
