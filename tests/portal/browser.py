"""A real portal (uvicorn in its own process) and a real Chromium, for the browser tests of
the school pages and the council pages: one server and one browser per module."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import free_port, stop
from tests.portal.helpers import Env, make_env

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--no-first-run"]


@dataclass
class Served:
    env: Env
    url: str


@contextmanager
def serve_portal(tmp: Path, **extra: str) -> Iterator[Served]:
    """``databook``'s portal on a free port of 127.0.0.1, reached as ``localhost`` because
    WebAuthn needs a host name, not an IP address. ``extra``: more DATABOOK_ settings (e.g.
    the PostgreSQL database)."""
    port = free_port()
    url = f"http://localhost:{port}"
    env = make_env(tmp, base_url=url, **extra)
    environ = {k: v for k, v in os.environ.items() if not k.startswith("DATABOOK_")}
    environ |= env.environ() | {"DATABOOK_PORTAL_BASE_URL": url} | extra
    log = (env.home / "server.log").open("wb")
    server = subprocess.Popen([sys.executable, "-m", "uvicorn", "--factory", "portal.asgi:app",
                               "--host", "127.0.0.1", "--port", str(port)], env=environ,
                              stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + 60
    while True:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/signin", timeout=2).close()
            break
        except OSError:
            assert server.poll() is None, (env.home / "server.log").read_text()[-2000:]
            assert time.monotonic() < deadline, "the portal did not start"
            time.sleep(0.3)
    try:
        yield Served(env, url)
    finally:
        stop(server)
        log.close()


@contextmanager
def chromium() -> Iterator[Any]:
    """Debian's Chromium through Playwright (never Playwright's own browser download)."""
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI") == "true":
            pytest.fail("Chromium is required under CI (make test installs it as root)")
        pytest.skip("Chromium is not installed (make test installs it)")
    import playwright.sync_api as playwright_sync  # a dev dependency: always installed
    with playwright_sync.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            yield browser
        finally:
            browser.close()
