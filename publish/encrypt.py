"""ECMA-376 agile encryption (AES-256, SHA-512): what Excel itself uses for "Encrypt with
Password", so a school opens the file in Excel or LibreOffice by typing its password."""

from __future__ import annotations

import io

import msoffcrypto
from msoffcrypto.format.ooxml import OOXMLFile


def encrypt(plain: bytes, password: str) -> bytes:
    out = io.BytesIO()
    OOXMLFile(io.BytesIO(plain)).encrypt(password, out)
    return out.getvalue()


def decrypt(data: bytes, password: str) -> bytes:
    """For checks and tests: raises ``msoffcrypto.exceptions.InvalidKeyError`` on a wrong
    password."""
    office = msoffcrypto.OfficeFile(io.BytesIO(data))
    office.load_key(password=password, verify_password=True)
    out = io.BytesIO()
    office.decrypt(out)
    return out.getvalue()
