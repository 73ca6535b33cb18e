"""Take the documentation's screenshot of the portal: a demo DSL's school page.

``make screenshot`` (needs ``make demo``'s environment and /usr/bin/chromium): makes a demo
council and run in a temporary ``DATABOOK_HOME``, the demo portal users, serves the portal on a
free loopback port, signs in as the first demo DSL with its password and TOTP code, and saves
the school page to ``docs/assets/portal-school-page.png``. Synthetic people only.
``SCREENSHOT_HOME=DIR`` keeps (and reuses) the demo council in DIR instead.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import pyotp
from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
OUT = ROOT / "docs" / "assets" / "portal-school-page.png"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def main() -> int:
    from portal.cli.portal import DEMO_PASSWORD, DEMO_USERS

    with tempfile.TemporaryDirectory() as home:
        home = os.environ.get("SCREENSHOT_HOME", home)
        port = free_port()
        env = {**os.environ, "DATABOOK_HOME": home,
               "DATABOOK_PORTAL_BASE_URL": f"http://localhost:{port}",
               "DATABOOK_PORTAL_COUNCIL_NAME": "Demo County Council"}
        if not Path(home, "drop").is_dir():
            subprocess.run([BIN / "databook", "demo"], env=env, check=True,
                           stdout=subprocess.DEVNULL)
        subprocess.run([BIN / "databook", "portal", "demo"], env=env, check=True,
                       stdout=subprocess.DEVNULL)
        server = subprocess.Popen([BIN / "databook", "portal", "serve", "--host", "127.0.0.1",
                                   "--port", str(port)], env=env)
        try:
            url = f"http://localhost:{port}"
            for _ in range(600):
                try:
                    urllib.request.urlopen(f"{url}/signin", timeout=1)
                    break
                except OSError:
                    time.sleep(0.2)
            _name, email, secret = DEMO_USERS[0]
            with sync_playwright() as pw:
                browser = pw.chromium.launch(executable_path="/usr/bin/chromium")
                page = browser.new_page(viewport={"width": 1100, "height": 760})
                page.goto(f"{url}/signin")
                page.fill("#email", email)
                page.fill("#password", DEMO_PASSWORD)
                page.click("form[action='/signin'] button")
                page.wait_for_url(f"{url}/signin/second")
                page.fill("#code", pyotp.TOTP(secret).now())
                page.click("form[action='/signin/totp'] button")
                page.wait_for_load_state()
                if "/agreement" in page.url:  # a fresh demo user accepts the agreement first
                    page.check("input[name='accept']")
                    page.click("form[action='/agreement'] button")
                    page.wait_for_url(lambda u: "/agreement" not in u)
                if page.url.rstrip("/").endswith(str(port)):  # several schools: the first
                    page.click("a[href^='/schools/']")
                    page.wait_for_load_state()
                if "/schools/" not in page.url:
                    raise SystemExit(f"expected the school page, reached {page.url}")
                OUT.parent.mkdir(parents=True, exist_ok=True)
                page.screenshot(path=str(OUT), full_page=True)
                browser.close()
        finally:
            server.terminate()
            server.wait(timeout=30)
    print(OUT)
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    raise SystemExit(main())
