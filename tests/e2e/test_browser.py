"""The portal in a real Chromium against a real uvicorn: enrol with a (virtual) passkey,
accept the agreement, download with a reason and compare the bytes with the drop; sign in
with the passkey and with TOTP; another school refused; a leaver's open session ends at the
next request; lockout. One server and one browser for the module."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from portal import accounts
from portal.events import COMMAND_LINE
from portal.migrate import ready
from tests.support import PASSWORD, Env, Served, add_user, chromium, serve_portal

A, B = 100001, 100002
GOOD = "heron meadow copper 1987"


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    with serve_portal(tmp_path_factory.mktemp("portal-browser")) as portal:
        yield portal


@pytest.fixture(scope="module")
def browser(served: Served) -> Iterator[Any]:
    with chromium() as launched:
        yield launched


def passkey_page(browser: Any) -> tuple[Any, Any]:
    """A fresh context with a virtual platform authenticator (Chrome DevTools)."""
    context = browser.new_context(accept_downloads=True)
    page = context.new_page()
    cdp = context.new_cdp_session(page)
    cdp.send("WebAuthn.enable")
    cdp.send("WebAuthn.addVirtualAuthenticator", {"options": {
        "protocol": "ctap2", "transport": "internal", "hasResidentKey": True,
        "hasUserVerification": True, "isUserVerified": True,
        "automaticPresenceSimulation": True}})
    return context, page


def link_for(env: Env, email: str, urn: int) -> str:
    portal = env.settings.portal
    with ready(portal.database_url, portal.state_dir).begin() as db:
        _, link = accounts.add_user(db, portal, urn=urn, name="Test Lead", email=email,
                                    role="dsl", origin=COMMAND_LINE)
    assert link is not None
    return link.url


def password_in(page: Any, url: str, email: str, password: str = PASSWORD) -> None:
    page.goto(f"{url}/signin")
    page.fill("#email", email)
    page.fill("#password", password)
    page.click("form[action='/signin'] button")


def test_passkey_enrolment_agreement_download_and_passkey_sign_in(served: Served,
                                                                   browser: Any) -> None:
    env, url = served.env, served.url
    context, page = passkey_page(browser)
    page.goto(link_for(env, "kim.passkey@alder.example", A))
    page.fill("#password", GOOD)
    page.fill("#confirm", GOOD)
    page.click("main button[type=submit]")
    page.wait_for_url(f"{url}/enrol/factor")
    page.click("#passkey")
    page.wait_for_url(f"{url}/agreement")
    page.check("#accept")
    page.click("form[action='/agreement'] button")
    page.wait_for_url(f"{url}/schools/{A}")
    assert page.inner_text("#as-at") == "21 November 2026"
    page.click("#download")
    page.get_by_role("radio", name="A child protection conference or core group").check()
    with page.expect_download() as caught:
        page.click("#get-file")
    got = caught.value
    assert got.suggested_filename == "Alder Primary School safeguarding databook 2026-11-21.xlsx"
    assert Path(got.path()).read_bytes() == (env.drop / env.run_id / f"{A}.xlsx").read_bytes()
    # the school page confirms it, with this download's receipt
    page.wait_for_url(f"{url}/schools/{A}?downloaded=*")
    banner = page.get_by_role("alert")
    assert "Your download has started" in banner.inner_text()
    receipt = banner.get_by_role("link", name="save the receipt for this download")
    assert receipt.get_attribute("href").startswith(f"/schools/{A}/receipts/")
    # another school's page and file: refused, nothing served
    response = page.goto(f"{url}/schools/{B}/download")
    assert response.status == 404 and "Birch" not in page.content()
    # sign out, sign in again with the passkey
    page.goto(f"{url}/schools/{A}")
    page.get_by_role("button", name="Sign out").click()
    password_in(page, url, "kim.passkey@alder.example", GOOD)
    page.wait_for_url(f"{url}/signin/second")
    page.click("#passkey")
    page.wait_for_url(f"{url}/schools/{A}")
    assert "ledger entry" in page.inner_text("#history")
    context.close()


def test_totp_sign_in_and_a_leaver_is_signed_out_at_the_next_request(served: Served,
                                                                      browser: Any) -> None:
    env, url = served.env, served.url
    secret = add_user(env, "lee.totp@alder.example", [A], agreed=True)
    context = browser.new_context()
    page = context.new_page()
    password_in(page, url, "lee.totp@alder.example")
    page.wait_for_url(f"{url}/signin/second")
    page.fill("#code", env.next_code(secret))
    page.click("form[action='/signin/totp'] button")
    page.wait_for_url(f"{url}/schools/{A}")
    with ready(env.settings.portal.database_url, env.settings.portal.state_dir).begin() as db:
        accounts.leave(db, "lee.totp@alder.example", "left in July", COMMAND_LINE)
    page.reload()
    assert page.url == f"{url}/signin"
    page.goto(f"{url}/schools/{A}/download")
    assert page.url == f"{url}/signin"
    context.close()


def test_lockout_in_the_browser(served: Served, browser: Any) -> None:
    env, url = served.env, served.url
    add_user(env, "max.locked@alder.example", [A], agreed=True)
    context = browser.new_context()
    page = context.new_page()
    for _ in range(10):
        password_in(page, url, "max.locked@alder.example", "not the password at all")
        assert "not right" in page.get_by_role("alert").inner_text()
    password_in(page, url, "max.locked@alder.example")
    assert "locked" in page.get_by_role("alert").inner_text()
    assert page.url == f"{url}/signin"
    context.close()
