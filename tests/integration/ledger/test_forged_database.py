"""What someone with write access to the portal DATABASE ONLY (no host, no key) can and cannot
do to the ledger: every entry is sealed with a key on the host and the signer only extends the
last head it signed, so inventing, rewriting or cutting back entries is refused by the signer
(with an alert) and named by ``audit verify``; deleting the newest, not yet signed, entry
within the tail window is the one thing that stays unseen."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import delete, func, text, update

from databook.cli import main
from databook.ledger import log, sealing
from databook.ledger.models import LedgerCheckpoint, LedgerEntry, LedgerNode, LedgerReasonText
from databook.ledger.tail import TailSigner
from tests.support import Ledger, make_ledger
from tests.support import fill_ledger as fill


def attacker(home: Ledger, tmp_path: Path) -> Ledger:
    """The same database, through the attacker's own engine: no access to the host, so its
    entries are sealed (if at all) with a key of the attacker's making."""
    return make_ledger(home.config.database_url, tmp_path / "attacker-state")


def verify_says(capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    capsys.readouterr()
    code = main(["audit", "verify"])
    captured = capsys.readouterr()
    return code, captured.err + captured.out


def signer_refuses(home: Ledger) -> list[Mapping[str, Any]]:
    """One pass of the serving portal's tail signer: it must sign nothing, and alert."""
    alerts: list[Mapping[str, Any]] = []
    tail = TailSigner(home.session, home.session, home.config, alert=alerts.append)
    with home.session() as db:
        before = db.scalar(func.count(LedgerCheckpoint.size).select())
    assert tail.once() is None
    assert tail.once() is None  # the same finding alerts once
    with home.session() as db:
        assert db.scalar(func.count(LedgerCheckpoint.size).select()) == before
    assert len(alerts) == 1 and alerts[0]["status"] == "refused"
    return alerts


def cut_back(db: Any, keep: int) -> None:
    db.execute(delete(LedgerEntry).where(LedgerEntry.idx >= keep))
    db.execute(delete(LedgerReasonText).where(LedgerReasonText.idx >= keep))
    db.execute(delete(LedgerNode).where(
        ((LedgerNode.idx + 1) * func.power(2, LedgerNode.level)) > keep))
    db.execute(delete(LedgerCheckpoint).where(LedgerCheckpoint.size > keep))


def test_an_invented_entry_is_never_signed_and_is_named(
        home: Ledger, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    fill(home, 5, checkpoints_at=(5,))
    with attacker(home, tmp_path).session() as db:
        log.append(db, "download", {"actor_id": 1, "urn": 112000, "run_id": "r",
                                    "reason_code": "concern"})
        db.commit()
    [alert] = signer_refuses(home)
    assert "entry 5 was not written by this portal" in alert["error"]
    code, said = verify_says(capsys)
    assert code == 1 and "entry 5 was not written by the portal" in said


def test_an_invented_entry_without_a_seal_is_named(
        home: Ledger, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    fill(home, 5, checkpoints_at=(5,))
    with attacker(home, tmp_path).session() as db:
        log.append(db, "council_action", {"action": "export"})
        db.execute(update(LedgerEntry).where(LedgerEntry.idx == 5).values(seal=None))
        db.commit()
    signer_refuses(home)
    code, said = verify_says(capsys)
    assert code == 1 and "entry 5 carries no seal" in said


def test_a_rewritten_unsigned_entry_is_never_signed_and_is_named(
        home: Ledger, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    fill(home, 5, checkpoints_at=(5,))
    fill(home, 2)  # entries 5 and 6: sealed, not signed yet
    with attacker(home, tmp_path).session() as db:  # entry 6 rewritten, tree rebuilt to match
        cut_back(db, 6)
        db.commit()
        log.append(db, "download", {"actor_id": 2, "urn": 112001, "run_id": "r",
                                    "reason_code": "concern"})
        db.commit()
    [alert] = signer_refuses(home)
    assert "entry 6 was not written by this portal" in alert["error"]
    code, said = verify_says(capsys)
    assert code == 1 and "entry 6 was not written by the portal" in said


def test_a_signed_history_cut_back_in_the_database_is_refused_and_named(
        home: Ledger, capsys: pytest.CaptureFixture[str]) -> None:
    fill(home, 5, checkpoints_at=(5,))
    fill(home, 4, checkpoints_at=(4,))
    with home.session() as db:  # the attacker deletes entries 5-8 and the checkpoint over them
        cut_back(db, 5)
        db.commit()
    code, said = verify_says(capsys)  # the database alone looks whole; the host knows better
    assert code == 1 and "signed 9 entries but the database holds 5" in said
    fill(home, 2)  # the portal appends on: 7 entries, none after 5 signed
    [alert] = signer_refuses(home)
    assert "cut back" in alert["error"]
    fill(home, 4)  # 11 entries, more than the host signed: still not an extension of it
    with pytest.raises(sealing.LedgerForged, match="do not match the entries"), \
            home.session() as db:
        log.checkpoint(db, home.config, force=True)


def test_a_retyped_column_names_the_entry(home: Ledger,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    fill(home, 6, checkpoints_at=(6,))
    with home.session() as db:
        db.execute(text("UPDATE ledger_entries SET at = 'yesterday' WHERE idx = 3"))
        db.commit()
    code, said = verify_says(capsys)
    assert code == 1 and "entry 3: a column holds a value of the wrong type" in said
    assert "fault in databook" not in said


def test_what_the_database_alone_can_still_do_delete_the_newest_unsigned_entry(
        home: Ledger, capsys: pytest.CaptureFixture[str]) -> None:
    """The limit of the claim, stated in the threat model: an entry made in the last second
    (``ledger_tail_seconds``), before any checkpoint covers it, can be deleted unseen."""
    fill(home, 5, checkpoints_at=(5,))
    fill(home, 1)
    with home.session() as db:
        cut_back(db, 5)
        db.commit()
    assert verify_says(capsys)[0] == 0
    with home.session() as db:
        assert log.checkpoint(db, home.config, force=True) is None  # nothing new to sign
