"""An independent reader: every school's file opens in LibreOffice with that school's password
(and not with another's), and LibreOffice sees the same rows, as text, with no formula."""

from __future__ import annotations

from pathlib import Path

import pytest

from demo.names import FORMULA_NAMES
from publish.keystore import Keystore
from tests import oracle
from tests.support import Run, open_encrypted, sheet_values
from tests.support import read_with_libreoffice as read

pytestmark = pytest.mark.prefect






def test_every_file_opens_in_libreoffice_with_its_password_only(run: Run, office: str) -> None:
    keystore = Keystore.open(run.home)
    files = sorted(run.folder.glob("*.xlsx"))
    names_seen: set[str] = set()
    for path in files:
        password = keystore.password(int(path.stem))
        seen = read(office, path, password)
        assert seen["opened"] is True and seen["formulas"] == 0
        assert seen["sheets"] == ["Databook", "Changes", "About"]
        rows = seen["rows"]
        assert isinstance(rows, list) and rows[0] == oracle.HEADERS
        ours = sheet_values(open_encrypted(path.read_bytes(), password)[0], "Databook")
        assert [r[:2] for r in rows[1:]] == [[v or "" for v in r[:2]] for r in ours[1:]]
        names_seen |= {r[1] for r in rows[1:]}
    for first, last in FORMULA_NAMES:
        assert f"{first} {last}" in names_seen  # read by LibreOffice as text, not a formula
    other = keystore.password(int(files[1].stem))
    assert read(office, files[0], other)["opened"] is False
    assert read(office, files[0], "")["opened"] is False


def test_two_files_under_one_cached_school_key_open_in_libreoffice(office: str,
                                                                   tmp_path: Path) -> None:
    """The nightly path without a run: the fast writer, and two files that share the school's
    password salt (but not their secret keys), each opened by LibreOffice, text kept as text
    and dates as dates; a wrong password refused."""
    from datetime import UTC, date, datetime

    from publish.encrypt import derive, encrypt
    from publish.workbook import RunInfo, School, Value, render
    from schemas.databook import KEYS

    password = "correct-horse-battery-staple-12345"
    key = derive(password)
    run = RunInfo("20261121T020000.000000Z-abc123", date(2026, 11, 21),
                  datetime(2026, 11, 21, 2, 0, tzinfo=UTC), "Starting Point", "01629 533190")
    values: list[Value] = [None] * len(KEYS)
    values[KEYS.index("name")] = "=HYPERLINK(\"http://example.invalid\",\"x\")"
    values[KEYS.index("date_of_birth")] = date(2015, 3, 1)
    values[KEYS.index("upn")] = "  spaced  "
    row = tuple(values)
    plain = render(School(112000, "830/2000", "A & B <School>"), [row], run)
    for i in range(2):
        path = tmp_path / f"{i}.xlsx"
        path.write_bytes(encrypt(plain, key))
        seen = read(office, path, password)
        assert seen["opened"] is True and seen["formulas"] == 0
        assert seen["sheets"] == ["Databook", "About"]
        rows = seen["rows"]
        assert isinstance(rows, list) and rows[0] == oracle.HEADERS
        assert rows[1][:3] == ["  spaced  ", values[KEYS.index("name")], "01/03/2015"]
    assert read(office, tmp_path / "0.xlsx", "correct-horse-battery-staple-12346")[
        "opened"] is False
