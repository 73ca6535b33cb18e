"""The witness catches a truncated, forked or rewritten history (even one signed with the
ledger's own key), and the ``databook audit`` commands keep the CLI contract."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import ClassVar

import pytest
from sqlalchemy import delete, select

from flows.cli import main
from portal.ledger import log
from portal.ledger.config import load_signer
from portal.ledger.models import LedgerCheckpoint, LedgerCosignature, LedgerEntry, LedgerNode
from portal.ledger.note import ALG_COSIGNATURE_V1, new_signer, verify_cosignature
from portal.ledger.witness import WitnessError, witness

from .conftest import Ledger, make_ledger
from .helpers import fill


def _fork(tmp_path: Path, ledger: Ledger, count: int, name: str) -> Ledger:
    """Another history under the same ledger key: what an insider who restored or rebuilt the
    database, and holds the key, could show."""
    other = make_ledger(f"sqlite:///{tmp_path / name}", ledger.config.state_dir)
    with other.session() as db:
        log.append(db, "council_action", {"action": "rewritten"})
        db.commit()
    fill(other, count - 1, checkpoints_at=(count - 1,))
    return other


def test_witness_cosigns_growth_and_refuses_every_rewrite(sqlite_ledger: Ledger,
                                                          tmp_path: Path) -> None:
    signer = new_signer("council.example/witness", ALG_COSIGNATURE_V1)
    state = tmp_path / "witness.json"
    log_key = load_signer(sqlite_ledger.config).verifier
    fill(sqlite_ledger, 10, checkpoints_at=(10,))
    with sqlite_ledger.session() as db:
        first = witness(db, signer, state, log_key)
        assert first is not None and first.size == 10 and first.previous_size is None
        cosigned = db.scalars(select(LedgerCosignature)).one()
        assert verify_cosignature(cosigned.note, signer.verifier) > 0
    fill(sqlite_ledger, 7, checkpoints_at=(7,))
    with sqlite_ledger.session() as db:
        second = witness(db, signer, state, log_key)
        assert second is not None and (second.size, second.previous_size) == (17, 10)
    cases = {"truncated": (_fork(tmp_path, sqlite_ledger, 12, "short.sqlite"), "truncated"),
             "forked": (_fork(tmp_path, sqlite_ledger, 17, "fork.sqlite"), "forked"),
             "rewritten": (_fork(tmp_path, sqlite_ledger, 25, "long.sqlite"),
                           "does not extend checkpoint 17")}
    for other, says in cases.values():
        with other.session() as db, pytest.raises(WitnessError) as caught:
            witness(db, signer, state, log_key)
        assert says in str(caught.value)
        other.engine.dispose()
    assert json.loads(state.read_text())["size"] == 17  # the witness's memory is unchanged


class _Hook(BaseHTTPRequestHandler):
    received: ClassVar[list[dict[str, object]]] = []

    def do_POST(self) -> None:
        length = int(self.headers["Content-Length"])
        self.received.append(json.loads(self.rfile.read(length)))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *_args: object) -> None:
        pass


@pytest.fixture
def webhook() -> Iterator[tuple[str, list[dict[str, object]]]]:
    server = HTTPServer(("127.0.0.1", 0), _Hook)
    _Hook.received = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/", _Hook.received
    server.shutdown()
    server.server_close()


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Ledger:
    """A DATABOOK_HOME whose portal database is where the settings' defaults put it."""
    home = tmp_path / "home"
    monkeypatch.setenv("DATABOOK_HOME", str(home))
    for name in ("DATABOOK_CONFIG", "DATABOOK_PORTAL_DATABASE_URL", "DATABOOK_PORTAL_STATE_DIR",
                 "DATABOOK_MASTER_KEY"):
        monkeypatch.delenv(name, raising=False)
    (home / "portal").mkdir(parents=True)
    made = make_ledger(f"sqlite:///{home / 'portal' / 'portal.sqlite'}",
                       home / "portal" / "state")
    return made


def test_audit_commands_verify_receipt_and_fail_in_one_line(
        home: Ledger, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        webhook: tuple[str, list[dict[str, object]]],
        monkeypatch: pytest.MonkeyPatch) -> None:
    url, received = webhook
    monkeypatch.setenv("DATABOOK_ALERT_WEBHOOK", url)
    fill(home, 9, checkpoints_at=(9,))
    assert main(["audit", "verify"]) == 0
    assert "9 entries, 1 checkpoints" in capsys.readouterr().out
    assert main(["audit", "public-key"]) == 0
    vkey = capsys.readouterr().out.strip()
    assert vkey == load_signer(home.config).verifier.vkey()
    assert main(["audit", "receipt", "4"]) == 0
    receipt_file = tmp_path / "receipt.json"
    receipt_file.write_text(capsys.readouterr().out)
    assert main(["audit", "check-receipt", str(receipt_file), "--key", vkey]) == 0
    assert "entry 4 (download)" in capsys.readouterr().out
    assert main(["audit", "export"]) == 0
    lines = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert [x["index"] for x in lines if "index" in x] == list(range(9))
    assert sum("checkpoint" in x for x in lines) == 1
    assert main(["audit", "witness"]) == 0
    assert "co-signed checkpoint 9" in capsys.readouterr().out

    with home.session() as db:  # an insider deletes the newest entries and re-signs
        db.execute(delete(LedgerEntry).where(LedgerEntry.idx >= 5))
        db.execute(delete(LedgerCheckpoint))
        db.execute(delete(LedgerNode).where(LedgerNode.idx >= 2))
        db.commit()
        log.checkpoint(db, home.config, force=True)
        db.commit()
    assert main(["audit", "witness"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("databook: error: ") and "truncated" in err[0]
    assert received and "truncated" in str(received[-1]["text"])
    assert main(["audit", "verify"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "checkpoint 9" in err[0]
