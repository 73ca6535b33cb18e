"""The witness catches a truncated, forked or rewritten history (even one signed with the
ledger's own key), and the ``databook audit`` commands keep the CLI contract."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from sqlalchemy import select

from databook.cli import main
from databook.ledger import log, sealing
from databook.ledger.config import KEY_FILE, load_signer
from databook.ledger.models import LedgerCosignature
from databook.ledger.note import ALG_COSIGNATURE_V1, new_signer, verify_cosignature
from databook.ledger.witness import WitnessError, witness
from tests.support import Ledger, make_ledger, truncate
from tests.support import fill_ledger as fill


def _fork(tmp_path: Path, ledger: Ledger, count: int, name: str) -> Ledger:
    """Another history under the same ledger key: what an insider who restored or rebuilt the
    database, and holds the key, could show."""
    state = tmp_path / f"{name}-state"  # the keys, without the host's record of its heads
    state.mkdir(mode=0o700)
    for key in (KEY_FILE, sealing.KEY_FILE):
        shutil.copy2(ledger.config.state_dir / key, state / key)
    other = make_ledger(f"sqlite:///{tmp_path / name}", state)
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

    truncate(home)  # an insider deletes the newest entries and re-signs
    assert main(["audit", "witness"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("databook: error: ") and "truncated" in err[0]
    assert received and "truncated" in str(received[-1]["text"])
    assert main(["audit", "verify"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "checkpoint 9" in err[0]
