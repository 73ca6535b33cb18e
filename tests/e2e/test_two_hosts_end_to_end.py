"""Both hosts in operation, as one test (marked ``two_hosts``): the nightly host's real run is
pushed over SFTP (a real sshd) to the portal host; a DSL downloads it through nginx over TLS;
the witness on the nightly host co-signs with the ledger's public key only; the signing key
rotates and downloads go on; both hosts are backed up, more downloads follow, the portal is
restored to its backup; the loss is named exactly, and after the documented steps ``audit
verify`` and the witness pass again. Every step is a ``databook`` command in its own process,
with each host's own environment."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from databook.drop import MANIFEST
from flows.settings import load
from portal.migrate import ready
from portal.registers import store
from portal.registers.record import SchoolRecord, Versions
from publish.keystore import SigningKey
from tests.support import (
    NGINX,
    Env,
    Run,
    Server,
    clean_env,
    databook,
    download,
    enrol_user,
    entries,
    free_port,
    sign_in,
    sshd,
    start_nginx,
    stop,
    wait_for,
)

pytestmark = [pytest.mark.two_hosts, pytest.mark.sftp, pytest.mark.prefect]
CLIENT = "127.0.0.3"


@pytest.fixture
def portal_drop(tmp_path: Path) -> Iterator[Server]:
    (tmp_path / "sshd").mkdir()
    with sshd(tmp_path / "sshd") as running:
        yield running


def _ok(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 0, (done.args, done.stdout[-1500:], done.stderr[-1500:])
    return done.stdout + done.stderr


def _refused(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 1, (done.args, done.stdout[-1500:], done.stderr[-1500:])
    assert done.stderr.count("\n") == 1, done.stderr
    return done.stderr


def _serve(environ: dict[str, str], port: int, log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        server = subprocess.Popen([sys.executable, "-m", "databook", "portal", "serve",
                                   "--host", "127.0.0.1", "--port", str(port)], env=environ,
                                  stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    wait_for(lambda: httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2)
             .raise_for_status(), "the portal", server, log)
    return server


def test_two_hosts_in_operation(run: Run, portal_drop: Server, tmp_path: Path,
                                webhook: tuple[str, list[dict[str, object]]]) -> None:
    if not Path(NGINX).exists():
        pytest.skip("no nginx here: apt-get install nginx")
    started = time.monotonic()
    hook, alerts = webhook
    nightly_home, portal_home = tmp_path / "nightly", tmp_path / "portal"
    shutil.copytree(run.home, nightly_home, ignore=shutil.ignore_patterns("prefect*"))
    portal_db = f"sqlite:///{portal_home / 'portal.sqlite'}"
    https, http, upstream = free_port(), free_port(), free_port()
    url = f"https://localhost:{https}"
    nightly = clean_env(DATABOOK_HOME=str(nightly_home), DATABOOK_DROP=str(nightly_home / "drop"),
                        DATABOOK_PUSH_DROP=portal_drop.url, DATABOOK_SFTP_KEY=portal_drop.key,
                        DATABOOK_SFTP_KNOWN_HOSTS=portal_drop.known_hosts,
                        DATABOOK_PORTAL_DATABASE_URL=portal_db,
                        DATABOOK_PORTAL_STATE_DIR=str(nightly_home / "not-the-portal"),
                        DATABOOK_ALERT_WEBHOOK=hook)
    portal = clean_env(DATABOOK_HOME=str(portal_home), DATABOOK_DROP=str(portal_drop.folder),
                       DATABOOK_PORTAL_DATABASE_URL=portal_db, DATABOOK_PORTAL_BASE_URL=url,
                       DATABOOK_PORTAL_TRUSTED_PROXIES="127.0.0.1",
                       DATABOOK_ALERT_WEBHOOK=hook)

    # 1. The nightly host's run reaches the portal host's drop over SFTP.
    assert "pushed 1 run(s)" in _ok(databook("push", env=nightly))
    run_id = (portal_drop.folder / "latest").read_text().strip()
    school = json.loads((portal_drop.folder / run_id / MANIFEST).read_text())["schools"][0]
    urn = int(school["urn"])

    # 2. The portal host trusts the council's manifest key, once; a DSL is enrolled.
    (tmp_path / "council.pem").write_text(_ok(databook("keys", "public", env=nightly)))
    _ok(databook("portal", "trust-key", str(tmp_path / "council.pem"), env=portal))
    with ready(portal_db).begin() as db:
        store.save(db, [SchoolRecord(urn=urn, name=str(school["name"]),
                                     protocol_signed_on=date(2026, 9, 1),
                                     protocol_version=Versions.protocol)])
    settings = load(environ=portal)
    secret = enrol_user(settings, "dana.lead@school.example", [urn], agreed=True)
    env = Env(portal_home, portal_drop.folder, SigningKey(Ed25519PrivateKey.generate()),
              settings, run_id)
    log = tmp_path / "portal.log"
    server = _serve(portal, upstream, log)
    proxy = None
    try:
        prefix, proxy, nginx_log = start_nginx(tmp_path, https, http, upstream)
        cert = prefix / "cert.pem"
        wait_for(lambda: httpx.get(f"{url}/healthz", verify=str(cert), timeout=2)
                 .raise_for_status(), "nginx", proxy, nginx_log)
        def browser() -> httpx.Client:
            return httpx.Client(base_url=url, follow_redirects=False, timeout=60,
                                transport=httpx.HTTPTransport(local_address=CLIENT,
                                                              verify=str(cert)),
                                headers={"X-Forwarded-For": "203.0.113.9"})

        client = browser()

        def fetch() -> bytes:
            got = download(client, urn)
            assert got.status_code == 200, got.text[:400]
            return bytes(got.content)

        # 3. A DSL downloads through nginx over TLS; the ledger has nginx's client address.
        sign_in(client, env, "dana.lead@school.example", secret)
        assert fetch() == (portal_drop.folder / run_id / school["file"]).read_bytes()
        assert entries(env, "download")[0]["client"] == CLIENT

        # 4. The witness on the nightly host, with the ledger's public key only.
        (tmp_path / "ledger.vkey").write_text(_ok(databook("audit", "public-key", env=portal)))
        _ok(databook("witness", "trust-key", str(tmp_path / "ledger.vkey"), env=nightly))
        assert "co-signed checkpoint" in _ok(databook("witness", "run", env=nightly))
        assert not (nightly_home / "not-the-portal").exists()

        # 5. The signing key rotates (announced, endorsed, pushed); downloads go on.
        _ok(databook("keys", "rotate", "--signing", env=nightly))
        rotated = databook("keys", "rotate", "--school", str(urn), env=nightly)
        _ok(rotated)
        new_run = rotated.stdout.strip().splitlines()[-1]
        assert (portal_drop.folder / "latest").read_text().strip() == new_run
        for _ in range(2):
            assert fetch() == (portal_drop.folder / new_run / school["file"]).read_bytes()
        assert entries(env, "refused") == [] and alerts == []

        # 6. Backups, more downloads (two witnessed, one not), then the portal is restored.
        backups = {host: tmp_path / f"{host}.tar.gz" for host in ("portal", "nightly")}
        _ok(databook("backup", "--host", "portal", "--out", str(backups["portal"]), env=portal))
        _ok(databook("backup", "--out", str(backups["nightly"]), env=nightly))
        backed_up = len(entries(env))
        fetch()
        fetch()
        _ok(databook("witness", "run", env=nightly))
        fetch()
        time.sleep(1.5)  # the serving portal signs its tail within a second
        _ok(databook("audit", "verify", env=portal))  # the council's routine check remembers
        before = len(entries(env))
        stop(server)
        assert "newer than this backup" in _refused(
            databook("restore", str(backups["portal"]), env=portal))
        said = _ok(databook("restore", str(backups["portal"]), "--force", env=portal))
        assert (f"the ledger has {backed_up} entries" in said
                and f"entries {backed_up} to {before - 1} are not in the backup" in said)
        assert "checkpoints were deleted" in _refused(databook("audit", "verify", env=portal))

        # 7. The documented steps: the portal again; the witness's copy of what it co-signed
        # carried to the portal host (only that host can seal what is put back) and
        # re-appended there; the restore accepted; the witness passes.
        server = _serve(portal, upstream, log)
        assert "audit recover --copy" in _refused(databook("witness", "recover", env=nightly))
        carried = portal_home / "entries-from-the-witness.jsonl"
        shutil.copy(nightly_home / "witness" / "entries.jsonl", carried)
        recovered = _ok(databook("audit", "recover", "--copy", str(carried), env=portal))
        assert f"re-appended entries {backed_up} to" in recovered
        assert "recorded as lost" in _ok(databook("audit", "verify", "--accept-restore",
                                                  env=portal))
        assert "ledger verified" in _ok(databook("audit", "verify", env=portal))
        assert "co-signed checkpoint" in _ok(databook("witness", "run", env=nightly))
        client = browser()
        sign_in(client, env, "dana.lead@school.example", secret)
        fetch()  # and the portal serves on
        assert entries(env, "refused") == [] and alerts == []
    finally:
        if proxy is not None:
            stop(proxy)
        stop(server)
    print(f"two hosts end to end: {time.monotonic() - started:.1f} s")
