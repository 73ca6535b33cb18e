"""The portal as it is deployed: the shipped nginx site (``deploy/nginx``) terminating TLS in
front of a real ``databook portal serve``, each on free ports of the loopback, nginx with its
own prefix and configuration in a temporary folder and a certificate made here.

A DSL signs in and downloads over HTTPS through nginx; the address the ledger records is the
one nginx saw (the client connects from 127.0.0.3, nginx reaches the portal from 127.0.0.1),
and an X-Forwarded-For the client forged never reaches the ledger."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.support import (
    NGINX,
    Env,
    add_user,
    download,
    entries,
    free_port,
    make_env,
    sign_in,
    start_nginx,
    stop,
    wait_for,
)

A = 100001
CLIENT_ADDRESS = "127.0.0.3"


@dataclass
class Deployed:
    env: Env
    url: str
    access_log: Path
    cert: Path


@pytest.fixture
def deployed(tmp_path: Path) -> Iterator[Deployed]:
    if not Path(NGINX).exists():
        if os.environ.get("CI") == "true":
            pytest.fail("nginx is required under CI (make test installs it as root)")
        pytest.skip("no nginx here: apt-get install nginx")
    https, http, upstream = free_port(), free_port(), free_port()
    url = f"https://localhost:{https}"
    env = make_env(tmp_path, base_url=url, DATABOOK_PORTAL_TRUSTED_PROXIES="127.0.0.1")
    environ = {k: v for k, v in os.environ.items() if not k.startswith("DATABOOK_")}
    environ |= env.environ() | {"DATABOOK_PORTAL_BASE_URL": url,
                                "DATABOOK_PORTAL_TRUSTED_PROXIES": "127.0.0.1"}
    portal_log = tmp_path / "portal.log"
    with portal_log.open("wb") as out:
        portal = subprocess.Popen([sys.executable, "-m", "databook", "portal", "serve",
                                   "--host", "127.0.0.1", "--port", str(upstream)],
                                  env=environ, stdout=out, stderr=subprocess.STDOUT,
                                  start_new_session=True)
    proxy = None
    try:
        prefix, proxy, nginx_log = start_nginx(tmp_path, https, http, upstream)
        cert = prefix / "cert.pem"
        wait_for(lambda: httpx.get(f"http://127.0.0.1:{upstream}/healthz", timeout=2)
              .raise_for_status(), "the portal", portal, portal_log)
        wait_for(lambda: httpx.get(f"{url}/readyz", verify=str(cert), timeout=2)
              .raise_for_status(), "nginx", proxy, nginx_log)
        yield Deployed(env, url, prefix / "access.log", cert)
    finally:
        if proxy is not None:
            stop(proxy)
        stop(portal)


def test_a_dsl_downloads_through_nginx_over_tls_and_the_ledger_has_nginxs_address(
        deployed: Deployed) -> None:
    env = deployed.env
    secret = add_user(env, "ann.lead@alder.example", [A], agreed=True)
    transport = httpx.HTTPTransport(local_address=CLIENT_ADDRESS, verify=str(deployed.cert))
    forged = {"X-Forwarded-For": "203.0.113.9", "X-Real-IP": "203.0.113.9",
              "Forwarded": "for=203.0.113.9"}
    with httpx.Client(base_url=deployed.url, transport=transport, headers=forged,
                      follow_redirects=False, timeout=30) as client:
        sign_in(client, env, "ann.lead@alder.example", secret)
        got = download(client, A, reason="other", reason_text="Core group this afternoon")
        assert got.status_code == 200, got.text[:500]
        assert got.content == (env.drop / env.run_id / f"{A}.xlsx").read_bytes()
        assert got.headers["strict-transport-security"].startswith("max-age=")
    [entry] = entries(env, "download")
    assert entry["client"] == CLIENT_ADDRESS
    assert all(e.get("client") != "203.0.113.9" for e in entries(env))
    assert "203.0.113.9" not in str(entries(env))
    log = deployed.access_log.read_text()
    assert f"POST /schools/{A}/download" in log and CLIENT_ADDRESS in log
    assert "Core group" not in log and "?" not in log
