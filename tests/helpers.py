"""Reading a published workbook back, independently of the writer."""

from __future__ import annotations

import io
import subprocess
import zipfile
from datetime import date, datetime
from pathlib import Path

from openpyxl import load_workbook
from openpyxl.workbook.workbook import Workbook

from publish.encrypt import decrypt

OLE_MAGIC = bytes.fromhex("D0CF11E0A1B11AE1")


def open_encrypted(data: bytes, password: str) -> tuple[Workbook, bytes]:
    plain = decrypt(data, password)
    return load_workbook(io.BytesIO(plain)), plain


def sheet_values(wb: Workbook, sheet: str) -> list[tuple[object, ...]]:
    return [tuple(_plain(v) for v in row) for row in wb[sheet].iter_rows(values_only=True)]


def _plain(value: object) -> object:
    return value.date() if isinstance(value, datetime) else value


def formula_cells(plain_xlsx: bytes) -> list[str]:
    """Every worksheet XML part that holds a formula element (there must be none)."""
    with zipfile.ZipFile(io.BytesIO(plain_xlsx)) as z:
        return [n for n in z.namelist() if n.startswith("xl/worksheets/")
                and (b"<f>" in z.read(n) or b"<f " in z.read(n))]


def all_text(plain_xlsx: bytes) -> str:
    with zipfile.ZipFile(io.BytesIO(plain_xlsx)) as z:
        return "".join(z.read(n).decode("utf-8", "replace") for n in z.namelist())


def browser_text(page: Path, profile: Path) -> str:
    """The page's DOM after a real headless Chromium (Debian's) has loaded and rendered it."""
    done = subprocess.run(
        ["/usr/bin/chromium", "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         f"--user-data-dir={profile}", "--dump-dom", page.as_uri()],
        capture_output=True, text=True, timeout=120, check=True)
    return done.stdout


__all__ = ["OLE_MAGIC", "all_text", "browser_text", "date", "formula_cells", "open_encrypted",
           "sheet_values"]
