"""Passwords and the master key: strong, private at rest, and never silently replaced."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from publish.errors import KeystoreError
from publish.keystore import KEYSTORE_FILE, MASTER_KEY_FILE, Keystore
from publish.passwords import entropy_bits, new_password


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_passwords_have_at_least_80_bits_and_differ() -> None:
    assert entropy_bits() >= 80
    made = {new_password() for _ in range(200)}
    assert len(made) == 200
    assert all(len(p.split("-")) == 6 and p.split("-")[-1].isdigit() for p in made)


def test_each_school_keeps_its_password_across_openings(tmp_path: Path) -> None:
    first = Keystore.open(tmp_path).ensure_passwords([100, 200])
    again = Keystore.open(tmp_path).ensure_passwords([100, 200, 300])
    assert first[100] != first[200]
    assert {k: again[k] for k in (100, 200)} == first
    assert Keystore.open(tmp_path).password(300) == again[300]


def test_keystore_is_encrypted_and_owner_only(tmp_path: Path) -> None:
    passwords = Keystore.open(tmp_path).ensure_passwords([100])
    blob = (tmp_path / KEYSTORE_FILE).read_bytes()
    assert passwords[100].encode() not in blob
    assert mode(tmp_path / KEYSTORE_FILE) == 0o600
    assert mode(tmp_path / MASTER_KEY_FILE) == 0o600


def test_a_lost_master_key_is_an_error_never_a_fresh_start(tmp_path: Path) -> None:
    Keystore.open(tmp_path).ensure_passwords([100])
    (tmp_path / MASTER_KEY_FILE).unlink()
    with pytest.raises(KeystoreError, match="master key is missing"):
        Keystore.open(tmp_path)
    assert not (tmp_path / MASTER_KEY_FILE).exists()


def test_a_wrong_or_malformed_master_key_is_refused(tmp_path: Path) -> None:
    key = Fernet.generate_key().decode()
    Keystore.open(tmp_path, key).ensure_passwords([100])
    with pytest.raises(KeystoreError, match="does not open"):
        Keystore.open(tmp_path, Fernet.generate_key().decode())
    with pytest.raises(KeystoreError, match="not a valid key"):
        Keystore.open(tmp_path, "not-a-key")
    assert Keystore.open(tmp_path, key).password(100)


def test_unknown_school_has_no_password(tmp_path: Path) -> None:
    with pytest.raises(KeystoreError, match="no password for school 999"):
        Keystore.open(tmp_path).password(999)
