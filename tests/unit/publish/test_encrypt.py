"""Cached key derivation per school: each file still has its own secrets, and an independent
reader (msoffcrypto, with password verification and its HMAC check on) opens every file with
the school's password and refuses anything else."""

from __future__ import annotations

import io
import re
from dataclasses import dataclass

import msoffcrypto
import pytest
from msoffcrypto.exceptions import InvalidKeyError
from msoffcrypto.method.ecma376_agile import _decrypt_aes_cbc, _generate_iv, blkKey_dataIntegrity1
from openpyxl import Workbook

from publish.encrypt import SPIN_COUNT, SchoolKey, decrypt, decrypt_with_key, derive, encrypt, rekey

PASSWORD = "correct-horse-battery-staple-12345"


def workbook(text: str = "hello") -> bytes:
    wb = Workbook()
    assert wb.active is not None
    wb.active["A1"] = text
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


@dataclass(frozen=True)
class FileSecrets:
    """What a reader recovers from one file with the school's password."""

    password_salt: bytes
    key_data_salt: bytes
    secret_key: bytes
    hmac_key: bytes
    verifier_input: bytes
    spin_count: int


def file_secrets(data: bytes, password: str) -> FileSecrets:
    office = msoffcrypto.OfficeFile(io.BytesIO(data))
    office.load_key(password=password, verify_password=True)
    info = office.info
    secret = office.secret_key
    iv1 = _generate_iv(_Params(), blkKey_dataIntegrity1, info["keyDataSalt"])  # MS-OFFCRYPTO
    hmac_key = _decrypt_aes_cbc(info["encryptedHmacKey"], secret, iv1)
    key = derive(password, info["passwordSalt"])
    verifier = _decrypt_aes_cbc(info["encryptedVerifierHashInput"], key.verifier_input_key,
                                info["passwordSalt"])
    return FileSecrets(info["passwordSalt"], info["keyDataSalt"], secret, hmac_key, verifier,
                       info["spinValue"])


class _Params:
    """The keyData parameters every file of ours declares (the descriptor test checks)."""

    hashName, blockSize = "SHA512", 16


@pytest.fixture(scope="module")
def key() -> SchoolKey:
    return derive(PASSWORD)


def test_a_file_under_a_cached_key_opens_with_the_password_and_integrity_check(
        key: SchoolKey) -> None:
    plain = workbook()
    data = encrypt(plain, key)
    assert decrypt(data, PASSWORD) == plain  # verify_password=True, verify_integrity=True
    for wrong in ("x", "correct-horse-battery-staple-12346", PASSWORD.upper()):
        with pytest.raises(InvalidKeyError):
            decrypt(data, wrong)


def test_a_tampered_file_fails_the_integrity_check(key: SchoolKey) -> None:
    data = bytearray(encrypt(workbook(), key))
    stream_at = len(data) - 2048  # inside the encrypted package, past the OLE header
    data[stream_at] ^= 0x01
    with pytest.raises(InvalidKeyError, match="integrity"):
        decrypt(bytes(data), PASSWORD)


def test_two_files_of_one_school_share_only_the_password_salt(key: SchoolKey) -> None:
    first, second = (file_secrets(encrypt(workbook(), key), PASSWORD) for _ in range(2))
    assert first.password_salt == second.password_salt == key.salt
    assert first.secret_key != second.secret_key
    assert first.hmac_key != second.hmac_key
    assert first.key_data_salt != second.key_data_salt
    assert first.verifier_input != second.verifier_input
    for secrets in (first, second):
        assert len(secrets.secret_key) == 32 and secrets.secret_key[16:] != b"\x36" * 16
        assert len(secrets.hmac_key) == 64
        assert len(secrets.key_data_salt) == 16
        assert secrets.spin_count == SPIN_COUNT == 100_000


def test_the_descriptor_says_aes256_sha512_and_the_full_spin_count(key: SchoolKey) -> None:
    ole = msoffcrypto.OfficeFile(io.BytesIO(encrypt(workbook(), key)))
    with ole.file.openstream("EncryptionInfo") as stream:
        xml = stream.read().decode("utf-8", "replace")
    assert 'spinCount="100000"' in xml
    assert len(re.findall(r'keyBits="256"', xml)) == 2
    assert len(re.findall(r'hashAlgorithm="SHA512"', xml)) == 2


def test_each_school_and_each_rotation_has_its_own_salt() -> None:
    salts = {derive(PASSWORD).salt for _ in range(3)}
    assert len(salts) == 3  # random, never derived from the password or the school
    with pytest.raises(ValueError, match="16 bytes"):
        derive(PASSWORD, b"short")


def test_a_file_re_keyed_after_a_rotation_opens_only_with_the_new_password(
        key: SchoolKey) -> None:
    plain = workbook("re-keyed")
    new = derive("a-new-password-after-rotation-99999")
    moved = rekey(encrypt(plain, key), key, new)
    assert decrypt(moved, "a-new-password-after-rotation-99999") == plain
    with pytest.raises(InvalidKeyError):
        decrypt(moved, PASSWORD)
    assert decrypt_with_key(moved, new) == plain
    with pytest.raises(ValueError, match="not encrypted under this school key"):
        decrypt_with_key(moved, key)


def test_a_password_still_encrypts_by_deriving_first() -> None:
    plain = workbook()
    assert decrypt(encrypt(plain, PASSWORD), PASSWORD) == plain
