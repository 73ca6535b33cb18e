"""End to end with nothing stood in for: a real ``databook run`` drop (the session ``run``
fixture), the portal trusting that keystore's public key (``databook keys public`` then
``databook portal trust-key``), ``databook portal serve`` on 127.0.0.1, and a DSL who signs in
and downloads over HTTP. The bytes are the drop's; the file opens with the password from
``databook keys reveal URN`` and holds exactly that school's rows, as the drop's own file and
the independent oracle say."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import httpx
import pyotp
import pytest

from databook.settings import HostSettings
from flows.settings import load
from portal.migrate import ready
from tests import oracle
from tests.support import (
    AS_AT,
    CSRF,
    PASSWORD,
    Council,
    Run,
    databook,
    enrol_user,
    free_port,
    open_encrypted,
    sheet_values,
    stop,
)

pytestmark = pytest.mark.prefect
EMAIL = "dee.lead@real-run.example"


def _school(folder: Path) -> dict[str, object]:
    """A school of the published run with children in its databook."""
    document = json.loads((folder / "manifest.json").read_bytes())
    return next(s for s in document["schools"] if s["children"] > 0)


@pytest.fixture
def served(run: Run, tmp_path: Path) -> Iterator[tuple[httpx.Client, dict[str, str], Path]]:
    """The real run's home, a portal database and state of the test's own, the keystore's
    public key trusted through the commands a council officer types, and the server."""
    port = free_port()
    env = run.env | {"DATABOOK_PORTAL_DATABASE_URL": f"sqlite:///{tmp_path / 'portal.sqlite'}",
                     "DATABOOK_PORTAL_STATE_DIR": str(tmp_path / "state"),
                     "DATABOOK_PORTAL_BASE_URL": f"http://localhost:{port}"}
    public = databook("keys", "public", env=env)
    assert public.returncode == 0, public.stderr
    (tmp_path / "council.pem").write_text(public.stdout)
    trusted = databook("portal", "trust-key", str(tmp_path / "council.pem"), env=env)
    assert trusted.returncode == 0, trusted.stderr
    server = subprocess.Popen([sys.executable, "-m", "databook", "portal", "serve",
                               "--host", "127.0.0.1", "--port", str(port)],
                              env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                              start_new_session=True)
    try:
        with httpx.Client(base_url=f"http://localhost:{port}", timeout=30) as client:
            deadline = time.monotonic() + 90
            while True:
                try:
                    if client.get("/signin").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert server.poll() is None, server.stderr.read() if server.stderr else ""
                assert time.monotonic() < deadline, "the portal did not start"
                time.sleep(0.3)
            yield client, env, run.home / "drop" / (run.home / "drop" / "latest").read_text(
                ).strip()
    finally:
        stop(server)


def _sign_in_and_download(client: httpx.Client, urn: int, secret: str) -> httpx.Response:
    page = client.get("/signin")
    done = client.post("/signin", data={"email": EMAIL, "password": PASSWORD,
                                        "csrf": CSRF.findall(page.text)[0]})
    assert done.status_code == 303, done.text
    page = client.get("/signin/second")
    done = client.post("/signin/totp", data={"code": pyotp.TOTP(secret).now(),
                                             "csrf": CSRF.findall(page.text)[0]})
    assert done.status_code == 303 and done.headers["location"] == "/", done.text
    page = client.get(f"/schools/{urn}/download")
    assert page.status_code == 200, page.text
    run_id = re.search(r'name="run_id" value="([^"]+)"', page.text)
    assert run_id
    return client.post(f"/schools/{urn}/download", data={
        "csrf": CSRF.findall(page.text)[0], "run_id": run_id.group(1), "reason": "records"})


def test_a_dsl_downloads_the_real_runs_file_over_http(
        served: tuple[httpx.Client, dict[str, str], Path], council: Council, run: Run) -> None:
    client, env, folder = served
    school = _school(folder)
    urn = int(str(school["urn"]))
    settings = load(environ=env)
    secret = enrol_user(settings, EMAIL, [urn], agreed=True)
    _sign_protocol(settings, urn, str(school["name"]))

    got = _sign_in_and_download(client, urn, secret)
    assert got.status_code == 200, got.text
    on_disk = (folder / f"{urn}.xlsx").read_bytes()
    assert got.content == on_disk
    assert f"{school['name']} safeguarding databook" in got.headers["content-disposition"]

    reveal = databook("keys", "reveal", str(urn), env=env)
    assert reveal.returncode == 0, reveal.stderr
    password = reveal.stdout.strip().splitlines()[-1]
    workbook, _ = open_encrypted(got.content, password)
    rows = sheet_values(workbook, "Databook")
    own, _ = open_encrypted(on_disk, password)
    assert rows == sheet_values(own, "Databook")
    assert len(rows) - 1 == int(str(school["children"])) > 0
    about = " ".join(str(v) for row in sheet_values(workbook, "About") for v in row if v)
    assert str(urn) in about
    if folder == run.folder:  # no later test has published over it
        expected = oracle.expected(council.case_path, council.roll_path, AS_AT)[urn]
        assert Counter(rows[1:]) == Counter(expected)
    with pytest.raises(Exception):  # noqa: B017 - msoffcrypto's error type for a bad password
        open_encrypted(got.content, password[::-1])

    other = next(int(p.stem) for p in folder.glob("*.xlsx") if int(p.stem) != urn)
    refused = client.get(f"/schools/{other}/download")
    assert refused.status_code == 404 and b"PK" not in refused.content


def _sign_protocol(settings: HostSettings, urn: int, name: str) -> None:
    from portal.registers import store
    from portal.registers.record import SchoolRecord, Versions

    with ready(settings.portal.database_url).begin() as db:
        store.save(db, [SchoolRecord(urn=urn, name=name, protocol_signed_on=date(2026, 9, 1),
                                     protocol_version=Versions.protocol)])

