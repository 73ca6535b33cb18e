"""The tests' OpenID provider: the certified ``oidc-provider`` package from npm (installed by
``make test`` into tests/oidc/node_modules), started on a free port of 127.0.0.1 with a small
server script (tests/oidc/server.mjs) and an accounts file a test may edit while it runs."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import pytest
import requests

from tests.support import free_port, stop

HERE = Path(__file__).with_name("oidc")
CLIENT_ID = "databook-portal"
CLIENT_SECRET = "test-only-client-secret-0123456789abcdef"
GROUP = "databook-council"
OFFICER = {"email": "olu.officer@council.example", "groups": [GROUP], "amr": ["pwd", "mfa"]}


@dataclass
class Provider:
    issuer: str
    accounts_file: Path

    def accounts(self, **accounts: dict[str, Any]) -> None:
        self.accounts_file.write_text(json.dumps(accounts))

    def settings(self, issuer: str | None = None, recheck: int = 300) -> dict[str, str]:
        """The portal's DATABOOK_PORTAL_OIDC_* settings for this provider."""
        return {"DATABOOK_PORTAL_OIDC_ISSUER": issuer or self.issuer,
                "DATABOOK_PORTAL_OIDC_CLIENT_ID": CLIENT_ID,
                "DATABOOK_PORTAL_OIDC_CLIENT_SECRET": CLIENT_SECRET,
                "DATABOOK_PORTAL_OIDC_SCOPES": "openid email groups",
                "DATABOOK_PORTAL_OIDC_COUNCIL_GROUP": GROUP,
                "DATABOOK_PORTAL_OIDC_RECHECK_SECONDS": str(recheck)}


def node_ready() -> None:
    if not (HERE / "node_modules" / "oidc-provider").is_dir() or not shutil.which("node"):
        if os.environ.get("CI") == "true":
            pytest.fail("the test OpenID provider is required under CI (make test installs it)")
        pytest.skip("no test OpenID provider here: make oidc-provider")


@contextmanager
def provider(tmp: Path, redirect_uri: str) -> Iterator[Provider]:
    node_ready()
    port = free_port()
    accounts = tmp / "accounts.json"
    made = Provider(f"http://127.0.0.1:{port}", accounts)
    made.accounts(olu=OFFICER)
    log = (tmp / "provider.log").open("wb")
    process = subprocess.Popen(["node", str(HERE / "server.mjs"), str(port), redirect_uri,
                                str(accounts)], stdout=log, stderr=subprocess.STDOUT,
                               start_new_session=True)
    deadline = time.monotonic() + 30
    while True:
        try:
            requests.get(f"{made.issuer}/.well-known/openid-configuration", timeout=2)
            break
        except requests.RequestException:
            assert process.poll() is None, (tmp / "provider.log").read_text()[-2000:]
            assert time.monotonic() < deadline, "the OpenID provider did not start"
            time.sleep(0.2)
    try:
        yield made
    finally:
        stop(process)
        log.close()


def through_provider(browser: requests.Session, url: str, login: str, redirect_uri: str) -> str:
    """Follow the provider's pages as a browser would (typing ``login`` on its sign-in form)
    until it sends the browser back to ``redirect_uri``; returns that URL (code and state).
    A refusal by the provider raises AssertionError with its status."""
    for _ in range(12):
        if url.startswith(redirect_uri):
            return url
        got = browser.get(url, allow_redirects=False, timeout=10)
        if got.status_code == 200 and 'name="login"' in got.text:
            action = got.text.split('action="', 1)[1].split('"', 1)[0]
            got = browser.post(urljoin(url, action), data={"login": login},
                               allow_redirects=False, timeout=10)
        assert got.status_code in (302, 303), (got.status_code, got.text[:300])
        url = urljoin(url, got.headers["location"])
    raise AssertionError("the provider never sent the browser back")
