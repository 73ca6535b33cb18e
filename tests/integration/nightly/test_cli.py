"""Bad input through the real command: one clear line, a non-zero exit, the drop untouched."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from databook.cli import main
from publish.keystore import Keystore
from tests.support import Council


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in ("DATABOOK_SOURCE_URL", "DATABOOK_ROLL_URL", "DATABOOK_DROP",
                 "DATABOOK_MASTER_KEY", "DATABOOK_CONFIG"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DATABOOK_HOME", str(tmp_path))
    previous = tmp_path / "drop" / "20261120T020000.000000Z-000000"
    previous.mkdir(parents=True)
    (previous / "112000.xlsx").write_bytes(b"yesterday")
    return tmp_path


def drop_state(home: Path) -> dict[str, bytes]:
    return {str(p.relative_to(home)): p.read_bytes() for p in (home / "drop").rglob("*")
            if p.is_file()}


def run_cli(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(args)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.postgres
def test_unreachable_database(home: Path, council: Council, monkeypatch: pytest.MonkeyPatch,
                              capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("DATABOOK_RETRY_DELAYS", "1")  # the retries themselves, not their wait
    # a council's database server: the council's own master key (none is invented for it)
    monkeypatch.setenv("DATABOOK_MASTER_KEY", Fernet.generate_key().decode())
    before = drop_state(home)
    code, out, err = run_cli(["run", "--source-url",
                              "postgresql+psycopg://mi:hunter2@127.0.0.1:1/mosaic",
                              "--roll-url", council.roll_url], capsys)
    last = err.strip().splitlines()[-1]
    assert code == 1 and out == ""
    assert last.startswith("databook: error: cannot connect to the case database at 127.0.0.1:1")
    assert "hunter2" not in err
    assert "Traceback" not in err and "Encountered exception" not in err
    assert drop_state(home) == before


@pytest.mark.parametrize("damage, message", [
    ("DROP TABLE DM_CIN_REFERRALS", "has no table DM_CIN_REFERRALS"),
    ("ALTER TABLE DM_PERSONS DROP COLUMN UPN_ID", "DM_PERSONS in the case database"),
])
def test_missing_table_or_column(home: Path, council: Council, tmp_path: Path, damage: str,
                                 message: str, capsys: pytest.CaptureFixture[str]) -> None:
    case = tmp_path / "broken.sqlite"
    shutil.copy(council.case_path, case)
    with sqlite3.connect(case) as con:
        con.execute(damage)
    before = drop_state(home)
    code, _, err = run_cli(["run", "--source-url", f"sqlite:///{case}",
                            "--roll-url", council.roll_url], capsys)
    assert code == 1
    assert err.count("\n") == 1 and message in err
    assert drop_state(home) == before


def test_an_empty_roll_stops_before_anything_runs(home: Path, council: Council, tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    roll = tmp_path / "empty-roll.sqlite"
    shutil.copy(council.roll_path, roll)
    with sqlite3.connect(roll) as con:
        con.execute("DELETE FROM EDU_ENROLMENTS")
    before = drop_state(home)
    code, out, err = run_cli(["run", "--source-url", council.case_url,
                              "--roll-url", f"sqlite:///{roll}"], capsys)
    assert (code, out) == (1, "")
    assert err == f"databook: error: the school roll at {roll} has no rows in EDU_ENROLMENTS\n"
    assert drop_state(home) == before


def test_bad_as_at_and_unknown_school(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_cli(["run", "--as-at", "21/11/2026"], capsys)
    assert code == 1 and "--as-at must be a date" in err
    Keystore.open(home).ensure_passwords([112000])
    code, _, err = run_cli(["keys", "reveal", "999999"], capsys)
    assert code == 1 and "no password for school 999999" in err


def test_keys_on_an_empty_home_create_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    """A mistyped DATABOOK_HOME must not grow a new master key or keystore."""
    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.setenv("DATABOOK_HOME", str(empty))
    monkeypatch.delenv("DATABOOK_MASTER_KEY", raising=False)
    for args in (["keys", "reveal", "112000"], ["keys", "public"]):
        code, out, err = run_cli(args, capsys)
        assert (code, out) == (1, "")
        assert err.startswith("databook: error: there is no keystore in") and err.count("\n") == 1
    assert list(empty.iterdir()) == []


def test_usage_errors_exit_2(home: Path) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["run", "--no-such-option"])
    assert exited.value.code == 2
