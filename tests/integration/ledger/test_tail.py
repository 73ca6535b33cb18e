"""no unsigned tail. A serving portal (real uvicorn, real HTTP) signs a
checkpoint over every entry within its window; a command that appends signs before it exits;
``audit verify`` fails an old unsigned tail and a ledger whose checkpoints or cosignatures
were deleted; the witness co-signs a fresh checkpoint; an empty ledger with no key verifies.
On SQLite and on the real PostgreSQL."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from sqlalchemy import delete, func, select

from databook.cli import main
from databook.ledger import log, sealing
from databook.ledger.models import (
    LedgerCheckpoint,
    LedgerCosignature,
    LedgerEntry,
    LedgerNode,
    LedgerReasonText,
)
from portal.migrate import ready
from tests.support import Env, Ledger, Served, csrf_of, make_env, make_ledger, serve_portal
from tests.support import fill_ledger as fill


def sizes(url: str) -> tuple[int, int]:
    """(entries, the newest checkpoint's size)."""
    with ready(url)() as db:
        return (int(db.scalar(select(func.count(LedgerEntry.idx))) or 0),
                int(db.scalar(select(func.max(LedgerCheckpoint.size))) or 0))


def checkpoint_count(url: str) -> int:
    with ready(url)() as db:
        return int(db.scalar(select(func.count(LedgerCheckpoint.size))) or 0)


def extra(request: pytest.FixtureRequest) -> dict[str, str]:
    if request.param == "sqlite":
        return {}
    return {"DATABOOK_PORTAL_DATABASE_URL": request.getfixturevalue("pg_url")}


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def served(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Served]:
    with serve_portal(tmp_path, **extra(request)) as portal:
        yield portal


def test_a_serving_portal_signs_every_entry_within_its_window(served: Served) -> None:
    url = served.env.settings.portal.database_url
    with httpx.Client(base_url=served.url, timeout=30) as client:
        for i in range(4):  # anonymous failed sign-ins: entries, no checkpoint asked for
            token = csrf_of(client.get("/signin").text)
            got = client.post("/signin", data={"email": f"nobody{i}@alder.example",
                                               "password": "wrong", "csrf": token})
            assert got.status_code == 401
    # The window is one second; a loaded shared machine gets a few more to commit.
    deadline = time.monotonic() + 6
    while (now := sizes(url))[0] != now[1] and time.monotonic() < deadline:
        time.sleep(0.1)
    entries, covered = sizes(url)
    assert entries >= 4 and covered == entries, (entries, covered)
    quiet = checkpoint_count(url)
    time.sleep(1.5)
    assert checkpoint_count(url) == quiet  # nothing new: nothing signed


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def env(request: pytest.FixtureRequest, tmp_path: Path) -> Env:
    return make_env(tmp_path, **extra(request))


def test_a_command_that_appends_signs_before_it_exits(env: Env) -> None:
    url = env.settings.portal.database_url
    run_env = {**env.environ(), "PATH": "/usr/bin:/bin",
               "DATABOOK_PORTAL_DATABASE_URL": url}
    added = subprocess.run([sys.executable, "-m", "databook", "users", "add", "--school",
                            "100001", "--name", "Ann Lead", "--email", "ann.lead@alder.example"],
                           env=run_env, capture_output=True, text=True, timeout=120, check=False)
    assert added.returncode == 0, added.stderr
    entries, covered = sizes(url)
    assert entries >= 1 and covered == entries


@pytest.fixture
def any_home(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Ledger]:
    """A DATABOOK_HOME whose portal database is ``db_url`` (SQLite, or PostgreSQL)."""
    home = tmp_path / "home"
    monkeypatch.setenv("DATABOOK_HOME", str(home))
    monkeypatch.setenv("DATABOOK_PORTAL_DATABASE_URL", db_url)
    for name in ("DATABOOK_CONFIG", "DATABOOK_PORTAL_STATE_DIR", "DATABOOK_MASTER_KEY"):
        monkeypatch.delenv(name, raising=False)
    (home / "portal").mkdir(parents=True)
    made = make_ledger(db_url, home / "portal" / "state")
    yield made
    made.engine.dispose()


def error_line(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("databook: error: "), err
    return err[0]


def test_verify_fails_an_unsigned_tail_older_than_the_window(
        any_home: Ledger, capsys: pytest.CaptureFixture[str]) -> None:
    fill(any_home, 9, checkpoints_at=(9,))
    with any_home.session() as db:  # just appended: still inside the window
        log.append(db, "council_action", {"action": "export"}, now=datetime.now(UTC))
        db.commit()
    assert main(["audit", "verify"]) == 0, capsys.readouterr().err
    capsys.readouterr()
    fill(any_home, 3)  # appended long ago, never signed: anyone could have changed them
    assert main(["audit", "verify"]) == 1
    assert "entries 9 to 12 are in no signed checkpoint" in error_line(capsys)


def test_verify_fails_when_checkpoints_or_cosignatures_were_deleted(
        any_home: Ledger, capsys: pytest.CaptureFixture[str]) -> None:
    fill(any_home, 9, checkpoints_at=(9,))
    assert main(["audit", "witness"]) == 0
    assert main(["audit", "verify"]) == 0
    capsys.readouterr()
    with any_home.session() as db:  # someone with the database deletes the cosignatures
        db.execute(delete(LedgerCosignature))
        db.commit()
    assert main(["audit", "verify"]) == 1
    assert "cosignatures were deleted" in error_line(capsys)
    with any_home.session() as db:  # ... and then every checkpoint too
        db.execute(delete(LedgerCheckpoint))
        db.commit()
    assert main(["audit", "verify"]) == 1
    assert "in no signed checkpoint" in error_line(capsys)


def test_verify_fails_when_checkpoints_were_deleted_and_the_tail_resigned(
        any_home: Ledger, capsys: pytest.CaptureFixture[str]) -> None:
    """The key holder deletes the newer checkpoints and signs the first entries again: the
    database alone looks whole, the last verify's memory does not agree."""
    fill(any_home, 5, checkpoints_at=(5,))
    fill(any_home, 4, checkpoints_at=(4,))
    assert main(["audit", "verify"]) == 0
    capsys.readouterr()
    with any_home.session() as db:
        db.execute(delete(LedgerEntry).where(LedgerEntry.idx >= 5))
        db.execute(delete(LedgerReasonText).where(LedgerReasonText.idx >= 5))
        db.execute(delete(LedgerNode).where(
            ((LedgerNode.idx + 1) * func.power(2, LedgerNode.level)) > 5))
        db.execute(delete(LedgerCheckpoint))
        db.commit()
        (any_home.config.state_dir / sealing.HEAD_FILE).unlink()  # the host's record too
        log.checkpoint(db, any_home.config, force=True)
        db.commit()
    assert main(["audit", "verify"]) == 1
    assert "checkpoints were deleted" in error_line(capsys)


def test_the_witness_asks_for_a_fresh_checkpoint_before_cosigning(
        any_home: Ledger, capsys: pytest.CaptureFixture[str]) -> None:
    fill(any_home, 9, checkpoints_at=(9,))
    fill(any_home, 2)
    assert main(["audit", "witness"]) == 0
    assert "co-signed checkpoint 11" in capsys.readouterr().out


def test_verify_of_an_empty_ledger_with_no_key_yet(
        any_home: Ledger, capsys: pytest.CaptureFixture[str]) -> None:
    assert not any_home.config.key_path.exists()
    assert main(["audit", "verify"]) == 0
    assert "no entries and no signing key yet" in capsys.readouterr().out
