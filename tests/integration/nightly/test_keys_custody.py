"""Keys as a council's auditor expects: every reveal on record (and sent as a notice), no
master key invented for a council's own database, and a master key rotation that a crash at
any step leaves with a keystore that opens."""

from __future__ import annotations

import email
import email.policy
import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from databook.cli import main
from publish.keystore import MASTER_KEY_FILE, Keystore
from tests.integration.nightly.operated import receivers
from tests.support import clean_env, databook


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in ("DATABOOK_SOURCE_URL", "DATABOOK_ROLL_URL", "DATABOOK_DROP",
                 "DATABOOK_MASTER_KEY", "DATABOOK_CONFIG", "DATABOOK_NEW_MASTER_KEY",
                 "DATABOOK_ALERT_WEBHOOK", "DATABOOK_ALERT_SMTP", "DATABOOK_ALERT_EMAIL_TO"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DATABOOK_HOME", str(tmp_path))
    keystore = Keystore.open(tmp_path)
    keystore.ensure_passwords([112000, 112001])
    keystore.partner_keys(["police-east"])
    return tmp_path


def test_every_reveal_is_recorded_listed_and_sent_never_the_password(
        home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    keystore = Keystore.open(home)
    with receivers() as got:
        monkeypatch.setenv("DATABOOK_ALERT_WEBHOOK", got.webhook)
        monkeypatch.setenv("DATABOOK_ALERT_SMTP", got.smtp)
        monkeypatch.setenv("DATABOOK_ALERT_EMAIL_TO", "ig-officer@council.example")
        assert main(["keys", "reveal", "112000"]) == 0
        assert capsys.readouterr().out.strip() == keystore.password(112000)
        assert main(["keys", "reveal", "--partner", "police-east"]) == 0
        assert capsys.readouterr().out.strip() == keystore.partner_password("police-east")
        # an unknown school: one line, exit 1, nothing recorded or sent
        assert main(["keys", "reveal", "999999"]) == 1
        assert "no password for school 999999" in capsys.readouterr().err
        assert got.wait(lambda g: len(g.posted) == 2 and len(g.mails) == 2, 10)
    record = home / "audit" / "reveals.jsonl"
    assert stat.S_IMODE(record.stat().st_mode) == 0o600
    lines = [json.loads(line) for line in record.read_text().splitlines()]
    assert [(e.get("school_urn"), e.get("partner")) for e in lines] == [
        (112000, None), (None, "police-east")]
    assert all(e["os_user"] and e["host"] and e["at"] for e in lines)
    secrets = (keystore.password(112000), keystore.partner_password("police-east"))
    mails = [email.message_from_string(m, policy=email.policy.default) for m in got.mails]
    for text in (record.read_text(), json.dumps(got.posted), *got.mails):
        assert not any(secret in text for secret in secrets)
    assert [p["status"] for p in got.posted] == ["revealed", "revealed"]
    assert "keys reveal of school 112000" in got.posted[0]["text"]
    assert mails[1]["Subject"] == ("Safeguarding databook: keys reveal of partner police-east "
                                   "REVEALED")

    assert main(["audit", "reveals"]) == 0
    listed = capsys.readouterr().out.splitlines()
    assert len(listed) == 2 and listed[0].endswith("school 112000")
    assert f"{lines[1]['os_user']} on {lines[1]['host']}" in listed[1]
    assert listed[1].endswith("partner police-east")


def test_a_run_against_a_database_server_does_not_invent_a_master_key(
        tmp_path: Path) -> None:
    env = clean_env(DATABOOK_HOME=str(tmp_path / "home"),
                    DATABOOK_SOURCE_URL="postgresql+psycopg://postgres@127.0.0.1:1/none",
                    DATABOOK_ROLL_URL="postgresql+psycopg://postgres@127.0.0.1:1/none")
    done = databook("run", env=env)
    assert (done.returncode, done.stdout) == (1, "")
    assert done.stderr.strip().splitlines()[-1] == (
        "databook: error: no master key: a run against a database server needs "
        "DATABOOK_MASTER_KEY; make one with `databook keys new-master` and keep it in your "
        "secret store")
    assert not (tmp_path / "home" / MASTER_KEY_FILE).exists()


def _rotate(home: Path, kill_at: str | None = None,
            **extra: str) -> subprocess.CompletedProcess[str]:
    env = clean_env(DATABOOK_HOME=str(home), **extra)
    if kill_at:
        env["DATABOOK_FAULT_KILL_AT"] = f"rotate-master:{kill_at}"
    return subprocess.run([sys.executable, "-m", "databook", "keys", "rotate", "--master"],
                          env=env, capture_output=True, text=True, timeout=120, check=False)


@pytest.mark.parametrize("kill_at", ["before-keystore", "after-keystore", None])
def test_a_demo_master_key_rotation_killed_at_any_step_leaves_a_keystore_that_opens(
        home: Path, kill_at: str | None) -> None:
    before = Keystore.open(home).password(112000)
    old_key = (home / MASTER_KEY_FILE).read_bytes()
    done = _rotate(home, kill_at)
    assert done.returncode == (-9 if kill_at else 0), done.stderr
    # whatever step it died at, the keystore opens with what is on disk, with every password
    assert Keystore.open(home).password(112000) == before
    rotated = (home / MASTER_KEY_FILE).read_bytes() != old_key
    assert rotated == (kill_at != "before-keystore")
    if kill_at != "before-keystore":  # finished, by the rotation or by the next open
        assert not (home / "master.key.next").exists()
        assert not (home / "master-key-rotation").exists()
    if kill_at == "before-keystore":  # and a second attempt completes
        assert _rotate(home).returncode == 0
        assert Keystore.open(home).password(112000) == before
        assert (home / MASTER_KEY_FILE).read_bytes() != old_key


def test_a_production_master_key_is_rotated_to_the_key_the_officer_made(home: Path) -> None:
    current = (home / MASTER_KEY_FILE).read_text().strip()
    (home / MASTER_KEY_FILE).rename(home / "elsewhere.key")  # production: the key is in env
    before = Keystore.open(home, current).password(112000)
    new = Fernet.generate_key().decode()
    refused = _rotate(home, DATABOOK_MASTER_KEY=current)  # no new key given: none is made
    assert refused.returncode == 1 and "DATABOOK_NEW_MASTER_KEY" in refused.stderr
    wrong = _rotate(home, DATABOOK_MASTER_KEY=Fernet.generate_key().decode(),
                    DATABOOK_NEW_MASTER_KEY=new)
    assert wrong.returncode == 1
    assert wrong.stderr.strip().splitlines()[-1].startswith(
        "databook: error: the master key does not open the keystore")
    assert Keystore.open(home, current).password(112000) == before  # nothing written

    killed = _rotate(home, "after-keystore", DATABOOK_MASTER_KEY=current,
                     DATABOOK_NEW_MASTER_KEY=new)
    assert killed.returncode == -9
    with pytest.raises(Exception, match="rotation was interrupted"):
        Keystore.open(home, current)
    assert Keystore.open(home, new).password(112000) == before
    assert not (home / "master-key-rotation").exists()
    assert not os.path.exists(home / MASTER_KEY_FILE)


def test_a_listing_read_by_head_ends_quietly(tmp_path: Path) -> None:
    """`databook audit reveals | head -1`: the reader stops early; no traceback, no "please
    report it"."""
    record = tmp_path / "audit" / "reveals.jsonl"
    record.parent.mkdir(parents=True)
    line = json.dumps({"at": "2026-11-21T09:00:00+00:00", "os_user": "mi", "host": "nightly",
                       "school_urn": 112000})
    record.write_text((line + "\n") * 20000)
    reader = subprocess.Popen([sys.executable, "-m", "databook", "audit", "reveals"],
                              env=clean_env(DATABOOK_HOME=str(tmp_path)), stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
    assert reader.stdout is not None and reader.stderr is not None
    assert reader.stdout.readline().endswith("school 112000\n")
    reader.stdout.close()
    assert reader.wait(timeout=60) == 141
    assert reader.stderr.read() == ""
