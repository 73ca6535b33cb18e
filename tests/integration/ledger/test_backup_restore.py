"""The backup and restore drill, with two homes (the portal host's and the nightly host's) and
the real commands: back both up, record more downloads, restore the portal to its backup.
Nothing forks: the restore names the entries it lost, ``witness recover`` puts back those the
witness co-signed byte for byte, ``audit verify --accept-restore`` records what stayed lost,
and then ``audit verify`` and the witness pass again. Bad archives are refused in one line
each, before anything changes."""

from __future__ import annotations

import json
import stat
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from databook.cli import main
from databook.ledger.config import load_signer
from databook.ledger.log import size
from databook.ledger.tail import TailSigner
from publish.keystore import Keystore
from tests.support import T0, Ledger, make_ledger
from tests.support import fill_ledger as fill

Say = Iterator[str]


class Hosts:
    """Switch the environment between the two hosts' homes, and run ``databook``."""

    def __init__(self, tmp: Path, monkeypatch: pytest.MonkeyPatch,
                 capsys: pytest.CaptureFixture[str]) -> None:
        self.tmp, self.mp, self.capsys = tmp, monkeypatch, capsys
        self.portal_home, self.nightly_home = tmp / "portal-host", tmp / "nightly-host"
        self.db_url = f"sqlite:///{self.portal_home / 'portal' / 'portal.sqlite'}"
        for name in ("DATABOOK_CONFIG", "DATABOOK_MASTER_KEY", "DATABOOK_ALERT_WEBHOOK",
                     "DATABOOK_DROP"):
            monkeypatch.delenv(name, raising=False)

    def portal(self) -> None:
        self.mp.setenv("DATABOOK_HOME", str(self.portal_home))
        self.mp.delenv("DATABOOK_PORTAL_DATABASE_URL", raising=False)
        self.mp.delenv("DATABOOK_PORTAL_STATE_DIR", raising=False)

    def nightly(self) -> None:
        """The nightly host reaches the portal database; it has none of the portal's state."""
        self.mp.setenv("DATABOOK_HOME", str(self.nightly_home))
        self.mp.setenv("DATABOOK_PORTAL_DATABASE_URL", self.db_url)
        self.mp.setenv("DATABOOK_PORTAL_STATE_DIR", str(self.nightly_home / "not-the-portal"))

    def run(self, *args: str, code: int = 0) -> str:
        self.capsys.readouterr()
        got = main(list(args))
        out, err = self.capsys.readouterr()
        assert got == code, (args, out, err)
        if code:
            assert err.count("\n") == 1, err  # one line
            return err
        return out


def test_backup_restore_drill_names_the_loss_and_verify_and_witness_pass_again(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    hosts = Hosts(tmp_path, monkeypatch, capsys)
    ledger: Ledger = make_ledger(hosts.db_url, hosts.portal_home / "portal" / "state")
    fill(ledger, 5, checkpoints_at=(5,), start=T0)
    vkey = load_signer(ledger.config).verifier.vkey()

    hosts.nightly()
    Keystore.open(hosts.nightly_home).witness_key()  # the council's keystore, made
    (tmp_path / "ledger.vkey").write_text(vkey + "\n")
    hosts.run("witness", "trust-key", str(tmp_path / "ledger.vkey"))
    assert "co-signed checkpoint 5" in hosts.run("witness", "run")
    hosts.portal()
    hosts.run("audit", "verify")

    # The backups, one per host: archives 0600 with a digest per member.
    portal_archive, nightly_archive = tmp_path / "portal.tar.gz", tmp_path / "nightly.tar.gz"
    hosts.run("backup", "--host", "portal", "--out", str(portal_archive))
    hosts.nightly()
    assert "the nightly host" in hosts.run("backup", "--out", str(nightly_archive))
    for archive in (portal_archive, nightly_archive):
        assert stat.S_IMODE(archive.stat().st_mode) == 0o600

    # More downloads after the backup: the witness co-signs 9 of them, 2 more come after.
    fill(ledger, 4, checkpoints_at=(4,), start=T0 + timedelta(hours=1))
    assert "co-signed checkpoint 9" in hosts.run("witness", "run")
    fill(ledger, 2, checkpoints_at=(2,), start=T0 + timedelta(hours=2))
    hosts.portal()
    hosts.run("audit", "verify")

    # Bad input, one line each, nothing changed.
    damaged = tmp_path / "damaged.tar.gz"
    data = bytearray(portal_archive.read_bytes())
    data[len(data) // 2] ^= 0xFF
    damaged.write_bytes(bytes(data))
    assert "damaged" in hosts.run("restore", str(damaged), code=1)
    assert "newer than this backup" in hosts.run("restore", str(portal_archive), code=1)
    hosts.nightly()
    assert "newer than the backup" in hosts.run("restore", str(nightly_archive), code=1)
    other = make_ledger(f"sqlite:///{tmp_path / 'other' / 'portal.sqlite'}", tmp_path / "other")
    fill(other, 1, checkpoints_at=(1,))
    monkeypatch.setenv("DATABOOK_HOME", str(tmp_path / "other-home"))
    monkeypatch.setenv("DATABOOK_PORTAL_DATABASE_URL", other.config.database_url)
    monkeypatch.setenv("DATABOOK_PORTAL_STATE_DIR", str(tmp_path / "other"))
    hosts.run("backup", "--host", "portal", "--out", str(tmp_path / "other.tar.gz"))
    other.engine.dispose()
    hosts.portal()
    assert "another council" in hosts.run("restore", str(tmp_path / "other.tar.gz"), code=1)
    with ledger.session() as db:
        assert size(db) == 11

    # The restore: the portal goes back to 5 entries, and says which 6 it lost.
    said = hosts.run("restore", str(portal_archive), "--force")
    assert "the ledger has 5 entries" in said and "entries 5 to 10 are not in the backup" in said
    with ledger.session() as db:
        assert size(db) == 5
    assert "checkpoints were deleted" in hosts.run("audit", "verify", code=1)

    # The documented steps: on the nightly host, witness recover (the serving portal signs the
    # tail), then on the portal host, audit verify --accept-restore.
    hosts.nightly()
    signer = TailSigner(ledger.session, ledger.session, ledger.config)
    signer.start()
    try:
        said = hosts.run("witness", "recover")
    finally:
        signer.stop()
    assert "re-appended entries 5 to 8" in said and "co-signed checkpoint 9" in said
    hosts.portal()
    said = hosts.run("audit", "verify", "--accept-restore")
    assert "entries 9 to 10" in said and "recorded as lost in entry 9" in said
    assert "ledger verified: 10 entries" in hosts.run("audit", "verify")
    hosts.nightly()
    assert "co-signed checkpoint 10 (previously 9)" in hosts.run("witness", "run")
    copy = hosts.nightly_home / "witness" / "entries.jsonl"
    assert [json.loads(line)["idx"] for line in copy.read_text().splitlines()] == list(range(10))
    assert stat.S_IMODE(copy.stat().st_mode) == 0o600

    # The nightly host's own restore, over a fresh home.
    fresh = tmp_path / "fresh-nightly"
    monkeypatch.setenv("DATABOOK_HOME", str(fresh))
    assert "restored" in hosts.run("restore", str(nightly_archive))
    assert (fresh / "keystore.fernet").is_file()
    assert json.loads((fresh / "witness" / "ledger.json").read_text())["size"] == 5
    ledger.engine.dispose()
