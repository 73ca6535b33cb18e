"""The nightly run's witness task, as a plain function (``task.fn``) against a real ledger and
the council's real keystore: it co-signs growth, skips where the portal database is out of
reach or the setting is off, and fails (one line, an alert) on a truncated history."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
from prefect.logging import disable_run_logger
from sqlalchemy import select

from databook.cli import main
from databook.ledger.config import from_settings, load_signer
from databook.ledger.models import LedgerCosignature
from databook.ledger.note import new_signer, verify_cosignature
from databook.ledger.tail import sign_tail
from databook.ledger.witness import WitnessError
from flows.nightly import witness_ledger
from flows.settings import NightlySettings, load
from portal.audit.sources import witness_signer
from tests.support import Ledger, truncate
from tests.support import fill_ledger as fill


def _task(settings: NightlySettings) -> str:
    with disable_run_logger():
        return witness_ledger.fn(settings)


def test_witness_task_cosigns_with_the_keystore_key_then_fails_on_truncation(
        home: Ledger, webhook: tuple[str, list[dict[str, object]]],
        monkeypatch: pytest.MonkeyPatch) -> None:
    url, received = webhook
    monkeypatch.setenv("DATABOOK_ALERT_WEBHOOK", url)
    settings = load()
    assert _task(settings) == "skipped"  # the portal never signed: no ledger key to pin yet
    # ... which the council is told, with what to do: never a silent skip.
    assert len(received) == 1 and received[0]["status"] == "skipped"
    assert "databook witness trust-key" in str(received[0]["text"])
    received.clear()
    fill(home, 3)
    load_signer(home.config)  # the portal's key, made at its first checkpoint
    # Entries but no checkpoint: the witness asks for a fresh one first.
    assert _task(settings) == "cosigned"
    fill(home, 6, checkpoints_at=(6,))
    assert _task(settings) == "cosigned"
    state = settings.home / "witness" / "ledger.json"
    assert json.loads(state.read_text())["size"] == 9
    key = witness_signer(settings, from_settings(settings)).verifier
    with home.session() as db:
        note = db.scalars(select(LedgerCosignature.note).order_by(LedgerCosignature.id)).all()[-1]
    assert verify_cosignature(note, key) > 0  # the keystore's witness key signed it
    assert received == []

    truncate(home)
    with pytest.raises(WitnessError) as caught:
        _task(settings)
    assert "truncated" in str(caught.value) and "\n" not in str(caught.value)
    assert len(received) == 1 and "truncated" in str(received[0]["text"])
    assert json.loads(state.read_text())["size"] == 9  # the witness remembers the longer log


def test_witness_task_skips_an_unreachable_portal_and_obeys_the_setting(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABOOK_HOME", str(tmp_path / "home"))
    for name in ("DATABOOK_CONFIG", "DATABOOK_PORTAL_DATABASE_URL", "DATABOOK_PORTAL_WITNESS",
                 "DATABOOK_MASTER_KEY", "DATABOOK_ALERT_WEBHOOK"):
        monkeypatch.delenv(name, raising=False)
    assert _task(load()) == "skipped"  # no portal database on this host
    assert not (tmp_path / "home" / "portal").exists()  # and none was created
    monkeypatch.setenv("DATABOOK_PORTAL_DATABASE_URL",
                       "postgresql+psycopg://postgres@127.0.0.1:9/nowhere?connect_timeout=3")
    assert _task(load()) == "skipped"  # a server that does not answer
    monkeypatch.setenv("DATABOOK_PORTAL_WITNESS", "false")
    assert _task(load()) == "disabled"
    assert not (tmp_path / "home" / "witness").exists()


def test_the_witness_on_another_host_needs_only_the_ledgers_public_key(
        home: Ledger, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        webhook: tuple[str, list[dict[str, object]]],
        capsys: pytest.CaptureFixture[str]) -> None:
    """Two homes: the portal's (its state folder, the ledger's private key) and the nightly
    host's, which reaches the portal database but holds none of the portal's secrets."""
    fill(home, 4)
    portal_key = load_signer(home.config)
    public = portal_key.verifier.vkey()
    nightly = tmp_path / "nightly"
    url, received = webhook
    monkeypatch.setenv("DATABOOK_HOME", str(nightly))
    monkeypatch.setenv("DATABOOK_ALERT_WEBHOOK", url)
    monkeypatch.setenv("DATABOOK_PORTAL_DATABASE_URL", home.config.database_url)
    monkeypatch.setenv("DATABOOK_PORTAL_STATE_DIR", str(nightly / "no-portal-state"))
    settings = load()
    assert _task(settings) == "skipped"  # nothing trusted yet: a warning and an alert
    assert len(received) == 1 and "trust-key" in str(received[0]["text"])
    (tmp_path / "ledger.vkey").write_text(public + "\n")
    assert main(["witness", "trust-key", str(tmp_path / "ledger.vkey")]) == 0
    trusted = nightly / "witness" / "ledger-key.vkey"
    assert stat.S_IMODE(trusted.stat().st_mode) == 0o600
    assert stat.S_IMODE(trusted.parent.stat().st_mode) == 0o700
    with home.session() as db:  # the serving portal's tail signer, on its own host
        sign_tail(db, home.config)
        db.commit()
    assert _task(settings) == "cosigned"
    assert not (nightly / "no-portal-state").exists()  # no portal secret was ever read here
    assert json.loads((nightly / "witness" / "ledger.json").read_text())["size"] == 4
    # A key for another ledger, or not a key at all: one line each.
    other = new_signer("other.example/ledger").verifier.vkey()
    capsys.readouterr()
    (tmp_path / "other.vkey").write_text(other)
    (tmp_path / "junk.vkey").write_text("not a key")
    for name, says in (("other.vkey", "is for the ledger other.example/ledger"),
                       ("junk.vkey", "not a ledger public key")):
        assert main(["witness", "trust-key", str(tmp_path / name)]) == 1
        line = capsys.readouterr().err
        assert says in line and line.count("\n") == 1
    assert len(received) == 1
