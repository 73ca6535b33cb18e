"""Rotating the ledger's own key: ``databook audit rotate-key`` announces the new key in the
ledger under a checkpoint the old key signs, so the witness on the nightly host (which trusted
only the old public key) and ``audit verify`` follow it with no new trust-key; a "rotation"
nobody holding the old key signed over is refused in one line."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from databook.cli import main
from databook.ledger import log
from databook.ledger.config import load_signer
from databook.ledger.models import LedgerCheckpoint
from databook.ledger.note import checkpoint_text, new_signer, sign
from databook.ledger.tail import sign_tail
from tests.support import Ledger
from tests.support import fill_ledger as fill


def _sign(ledger: Ledger) -> None:
    with ledger.session() as db:
        sign_tail(db, ledger.config)
        db.commit()


def test_the_witness_and_verify_follow_a_rotated_ledger_key_and_refuse_a_forged_one(
        home: Ledger, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str],
        webhook: tuple[str, list[dict[str, object]]]) -> None:
    portal_home = Path(str(home.config.state_dir)).parents[1]
    nightly = tmp_path / "nightly"
    url, received = webhook

    def portal_host() -> None:
        monkeypatch.setenv("DATABOOK_HOME", str(portal_home))
        monkeypatch.delenv("DATABOOK_PORTAL_DATABASE_URL", raising=False)
        monkeypatch.delenv("DATABOOK_PORTAL_STATE_DIR", raising=False)

    def nightly_host() -> None:
        monkeypatch.setenv("DATABOOK_HOME", str(nightly))
        monkeypatch.setenv("DATABOOK_PORTAL_DATABASE_URL", home.config.database_url)
        monkeypatch.setenv("DATABOOK_PORTAL_STATE_DIR", str(nightly / "not-the-portal"))

    def run(*args: str, code: int = 0) -> str:
        capsys.readouterr()
        assert main(list(args)) == code, capsys.readouterr()
        out, err = capsys.readouterr()
        return out + err

    monkeypatch.setenv("DATABOOK_ALERT_WEBHOOK", url)
    fill(home, 4)
    old = load_signer(home.config).verifier
    _sign(home)
    nightly_host()
    (tmp_path / "ledger.vkey").write_text(old.vkey() + "\n")
    run("witness", "trust-key", str(tmp_path / "ledger.vkey"))
    assert "co-signed checkpoint 4" in run("witness", "run")

    portal_host()
    said = run("audit", "rotate-key")
    new = load_signer(home.config).verifier
    assert new != old and new.vkey() in said
    fill(home, 3, start=datetime.now(UTC))
    _sign(home)  # the serving portal's next checkpoint: the new key's
    assert "ledger verified: 8 entries" in run("audit", "verify")

    nightly_host()
    assert "co-signed checkpoint 8 (previously 4)" in run("witness", "run")
    state = json.loads((nightly / "witness" / "ledger.json").read_text())
    assert state["log_vkey"] == new.vkey()  # the witness now pins the new key
    assert received == []

    # Someone who can write the database, but holds no ledger key, announces their own key.
    intruder = new_signer(home.config.origin)
    with home.session() as db:
        log.append(db, "council_action", {"action": "ledger_key_rotated",
                                          "target": intruder.verifier.vkey()})
        fill_size = log.size(db)
        db.add(LedgerCheckpoint(size=fill_size, note=sign(checkpoint_text(
            home.config.origin, fill_size, log.root(db, fill_size)), intruder),
            signed_at=datetime.now(UTC)))
        db.commit()
        log.append(db, "council_action", {"action": "forged"})
        size = log.size(db)
        db.add(LedgerCheckpoint(size=size, note=sign(checkpoint_text(
            home.config.origin, size, log.root(db, size)), intruder),
            signed_at=datetime.now(UTC)))
        db.commit()
    line = run("witness", "run", code=1)
    assert "not the ledger's" in line and line.count("\n") == 1
    assert len(received) == 1  # and the council is told
    portal_host()
    assert "checkpoint 9" in run("audit", "verify", code=1)
