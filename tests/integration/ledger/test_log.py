"""Appending, checkpoints, receipts, and one linear log under two real writer processes."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from databook.ledger import log, maybe_checkpoint, receipt, record
from databook.ledger.config import load_signer
from databook.ledger.entries import commitment
from databook.ledger.models import LedgerCheckpoint, LedgerEntry, LedgerReasonText
from databook.ledger.note import new_signer
from databook.ledger.receipts import ReceiptError, check
from databook.ledger.verify import verify_ledger
from tests.support import REPO, T0, Ledger
from tests.support import fill_ledger as fill

ROOT = REPO


@pytest.mark.parametrize("kind, fields", [
    ("no_such_kind", {}),
    ("download", {"child_name": "x"}),
    ("download", {"urn": "112000"}),
    ("download", {"urn": [1]}),
    ("signin_failed", {"reason": "because"}),
])
def test_record_refuses_what_the_kind_does_not_allow(sqlite_ledger: Ledger, kind: str,
                                                     fields: dict[str, object]) -> None:
    with sqlite_ledger.session() as db:
        with pytest.raises(ValueError):
            record(db, kind, **fields)  # type: ignore[arg-type]
        db.rollback()
        assert db.scalar(select(LedgerEntry.idx)) is None


def test_typed_reason_is_kept_apart_and_committed_to(sqlite_ledger: Ledger) -> None:
    typed = "worried about Alex Example in 5B"
    with sqlite_ledger.session() as db:
        index = record(db, "download", actor_id=7, urn=112000, run_id="r1",
                       file_sha256="ab" * 32, reason_code="other", reason_text=typed)
        db.commit()
        entry = db.get(LedgerEntry, index)
        kept = db.get(LedgerReasonText, index)
    assert entry is not None and kept is not None
    body = bytes(entry.body)
    assert b"Alex" not in body and "reason_text" not in body.decode()
    assert json.loads(body)["reason_commitment"] == commitment(bytes(kept.salt), typed)
    assert kept.text == typed


def test_checkpoints_follow_the_interval_unless_forced(sqlite_ledger: Ledger) -> None:
    config = sqlite_ledger.config
    fill(sqlite_ledger, 3)
    with sqlite_ledger.session() as db:
        first = log.checkpoint(db, config, now=T0)
        assert first is not None and first.size == 3
        assert log.checkpoint(db, config, now=T0 + timedelta(hours=1)) is None  # nothing new
        db.commit()
    fill(sqlite_ledger, 2, start=T0 + timedelta(minutes=5))
    with sqlite_ledger.session() as db:
        assert log.checkpoint(db, config, now=T0 + timedelta(minutes=9)) is None
        later = log.checkpoint(db, config, now=T0 + timedelta(minutes=10, seconds=1))
        assert later is not None and later.size == 5
        db.commit()
    fill(sqlite_ledger, 1, start=T0 + timedelta(minutes=11))
    with sqlite_ledger.session() as db:
        assert maybe_checkpoint(db, force=True, config=config) == 6
        assert [c.size for c in db.scalars(select(LedgerCheckpoint))] == [3, 5, 6]


def test_receipt_checks_offline_and_any_change_fails(sqlite_ledger: Ledger) -> None:
    fill(sqlite_ledger, 11)
    vkey = load_signer(sqlite_ledger.config).verifier.vkey()
    with sqlite_ledger.session() as db:
        made = receipt(db, 4, sqlite_ledger.config)  # signs a checkpoint on demand
    assert check(made, vkey)["index"] == 4
    changed_entry = dict(made, entry=str(made["entry"]).replace("concern", "concerN"))
    other_index = dict(made, index=5)
    proof = list(made["inclusion_proof"])  # type: ignore[call-overload]
    proof[0] = proof[1]
    bad_proof = dict(made, inclusion_proof=proof)
    bad_note = dict(made, checkpoint=str(made["checkpoint"]).replace("\n11\n", "\n12\n"))
    for bad in (changed_entry, other_index, bad_proof, bad_note):
        with pytest.raises(ReceiptError):
            check(bad, vkey)
    with pytest.raises(ReceiptError):
        check(made, new_signer(sqlite_ledger.config.origin).verifier.vkey())


WRITER = """
import sys
from pathlib import Path
from databook.database import engine_for, session_factory
from databook.ledger import record, sealing
from tests.support import REPO
engine = sealing.attach(engine_for(sys.argv[1]), Path(sys.argv[4]))
make = session_factory(engine)
for i in range(int(sys.argv[2])):
    with make() as db:
        record(db, "signin_ok", actor_id=int(sys.argv[3]), method="totp")
        db.commit()
"""


def test_two_processes_appending_make_one_linear_log(ledger: Ledger, tmp_path: Path) -> None:
    url, per_writer = ledger.config.database_url, 150
    env = {"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"}
    writers = [subprocess.Popen([sys.executable, "-c", WRITER, url, str(per_writer), str(w),
                                 str(ledger.config.state_dir)],
                                env=env, stderr=subprocess.PIPE) for w in (1, 2)]
    for w in writers:
        _out, err = w.communicate(timeout=120)
        assert w.returncode == 0, err.decode()[-2000:]
    with ledger.session() as db:
        rows = db.execute(select(LedgerEntry.idx, LedgerEntry.actor_id).order_by(
            LedgerEntry.idx)).all()
        assert [i for i, _ in rows] == list(range(2 * per_writer))
        by_writer = [a for _, a in rows]
        assert by_writer.count(1) == by_writer.count(2) == per_writer
        log.checkpoint(db, ledger.config, force=True)
        db.commit()
        result = verify_ledger(db, load_signer(ledger.config).verifier)
    assert result.entries == 2 * per_writer and result.checkpoints == 1
