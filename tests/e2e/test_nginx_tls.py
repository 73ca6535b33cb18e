"""The portal as it is deployed: the shipped nginx site (``deploy/nginx``) terminating TLS in
front of a real ``databook portal serve``, each on free ports of the loopback, nginx with its
own prefix and configuration in a temporary folder and a certificate made here.

A DSL signs in and downloads over HTTPS through nginx; the address the ledger records is the
one nginx saw (the client connects from 127.0.0.3, nginx reaches the portal from 127.0.0.1),
and an X-Forwarded-For the client forged never reaches the ledger."""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.support import REPO, Env, add_user, download, entries, free_port, make_env, sign_in, stop

NGINX = "/usr/sbin/nginx"
SITE = REPO / "deploy" / "nginx" / "databook-portal.conf"
A = 100001
CLIENT_ADDRESS = "127.0.0.3"


def certificate(folder: Path) -> tuple[Path, Path]:
    """A self-signed certificate for localhost (and 127.0.0.1)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([
                x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    key_path.chmod(0o600)
    return cert_path, key_path


def site(folder: Path, https: int, http: int, upstream: int) -> str:
    """The shipped site, on this test's ports, certificate and log; nothing else changed."""
    cert, key = certificate(folder)
    text = SITE.read_text()
    text = re.sub(r"^\s*listen \[::\].*\n", "", text, flags=re.M)  # no IPv6 assumed here
    text = text.replace("listen 443 ssl", f"listen 127.0.0.1:{https} ssl")
    text = text.replace("listen 80;", f"listen 127.0.0.1:{http};")
    text = text.replace("http://127.0.0.1:8000", f"http://127.0.0.1:{upstream}")
    text = re.sub(r"ssl_certificate .*;", f"ssl_certificate {cert};", text)
    text = re.sub(r"ssl_certificate_key .*;", f"ssl_certificate_key {key};", text)
    text = text.replace("/var/log/nginx/databook-portal.access.log",
                        str(folder / "access.log"))
    return text


@dataclass
class Deployed:
    env: Env
    url: str
    access_log: Path
    cert: Path


def _wait(check: object, what: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    while True:
        try:
            check()  # type: ignore[operator]
            return
        except (OSError, httpx.HTTPError):
            assert process.poll() is None, log.read_text()[-2000:]
            assert time.monotonic() < deadline, f"{what} did not start"
            time.sleep(0.3)


def _start_nginx(tmp_path: Path, https: int, http: int,
                 upstream: int) -> tuple[Path, subprocess.Popen[bytes], Path]:
    prefix = tmp_path / "nginx"
    for sub in ("logs", "temp"):
        (prefix / sub).mkdir(parents=True)
    (prefix / "site.conf").write_text(site(prefix, https, http, upstream))
    user = "user root;\n" if os.geteuid() == 0 else ""
    temp = prefix / "temp"
    (prefix / "nginx.conf").write_text(
        f"{user}daemon off;\nworker_processes 1;\npid {prefix / 'nginx.pid'};\n"
        f"error_log {prefix / 'logs' / 'error.log'} warn;\nevents {{ worker_connections 64; }}\n"
        "http {\n"
        f"  client_body_temp_path {temp}/body;\n  proxy_temp_path {temp}/proxy;\n"
        f"  fastcgi_temp_path {temp}/fastcgi;\n  uwsgi_temp_path {temp}/uwsgi;\n"
        f"  scgi_temp_path {temp}/scgi;\n"
        f"  access_log off;\n  include {prefix / 'site.conf'};\n}}\n")
    nginx_log = prefix / "logs" / "stderr.log"
    with nginx_log.open("wb") as out:
        checked = subprocess.run([NGINX, "-t", "-p", str(prefix), "-c",
                                  str(prefix / "nginx.conf")], capture_output=True, text=True,
                                 check=False)
        assert checked.returncode == 0, checked.stderr
        proxy = subprocess.Popen([NGINX, "-p", str(prefix), "-c", str(prefix / "nginx.conf")],
                                 stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    return prefix, proxy, nginx_log


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
        prefix, proxy, nginx_log = _start_nginx(tmp_path, https, http, upstream)
        cert = prefix / "cert.pem"
        _wait(lambda: httpx.get(f"http://127.0.0.1:{upstream}/healthz", timeout=2)
              .raise_for_status(), "the portal", portal, portal_log)
        _wait(lambda: httpx.get(f"{url}/readyz", verify=str(cert), timeout=2)
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
