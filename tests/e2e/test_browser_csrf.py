"""CSRF bound to the session, in a real Chromium against a real uvicorn: a page on a sibling origin
(same site, so the officer's SameSite=Strict session cookie goes with its POST) plants the
attacker's own pre-session cookie and posts the attacker's token to the council's "a DSL
left" action. The portal must refuse it, change nothing, and record the refusal."""

from __future__ import annotations

import threading
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from tests.support import (
    PASSWORD,
    A,
    Served,
    add_officer,
    add_user,
    chromium,
    csrf_of,
    entries,
    free_port,
    serve_portal,
    user_rows,
)

OFFICER = "olu.officer@council.example"
DSL = "lee.dsl@alder.example"


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    with serve_portal(tmp_path_factory.mktemp("portal-csrf-browser")) as portal:
        yield portal


@contextmanager
def evil_site(html: str) -> Iterator[str]:
    """The attacker's page on another port of ``localhost``: another origin, the same site."""
    class Page(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = html.encode()
            self.send_response(200)
            self.send_header("content-type", "text/html; charset=utf-8")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_args: Any) -> None:
            return

    port = free_port()
    server = ThreadingHTTPServer(("127.0.0.1", port), Page)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://localhost:{port}/"
    finally:
        server.shutdown()
        server.server_close()


def attacker_pair(url: str) -> tuple[str, str, str]:
    """The attacker's own anonymous visit: the pre-session cookie they were given, and the
    token bound to it."""
    with urllib.request.urlopen(f"{url}/signin", timeout=10) as got:
        cookie = got.headers["set-cookie"].split(";")[0]
        page = got.read().decode()
    name, value = cookie.split("=", 1)
    return name, value, csrf_of(page)


def test_a_planted_cookie_and_the_attackers_token_cannot_remove_a_dsl(served: Served) -> None:
    env, url = served.env, served.url
    secret = add_officer(env, OFFICER)
    add_user(env, DSL, [A], agreed=True)
    name, value, token = attacker_pair(url)
    form = (f'<form id="f" method="post" action="{url}/council/users/leave">'
            f'<input name="email" value="{DSL}"><input name="reason" value="forged">'
            f'<input name="csrf" value="{token}"></form>'
            '<script>document.getElementById("f").submit()</script>')
    with chromium() as browser, evil_site(form) as evil:
        context = browser.new_context()
        page = context.new_page()
        page.goto(f"{url}/signin")
        page.fill("#email", OFFICER)
        page.fill("#password", PASSWORD)
        page.click("form[action='/signin'] button")
        page.wait_for_url(f"{url}/signin/second")
        page.fill("#code", env.next_code(secret))
        page.click("form[action='/signin/totp'] button")
        page.wait_for_url(f"{url}/council")
        # The attacker plants their own pre cookie (a sibling host can: no __Host- over HTTP).
        context.add_cookies([{"name": name, "value": value, "domain": "localhost",
                              "path": "/"}])
        before, count = user_rows(env), len(entries(env))
        with page.expect_navigation(url=f"{url}/council/users/leave"):
            page.goto(evil)
        assert "did not come from this site" in page.inner_text("main")
        context.close()
    assert user_rows(env) == before  # the DSL was not removed
    after = entries(env)[count:]
    assert [(e["kind"], e["what"], e["actor_email"]) for e in after] == [
        ("refused", "cross_site", OFFICER)]
