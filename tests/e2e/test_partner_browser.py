"""A partner's user in a real Chromium against a real uvicorn: signs in with a
second factor, accepts the agreement, lands on their partner's page, downloads the file with
a reason (byte for byte the published one), and is refused on every school page the app has,
for every school, and on another partner's page."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from portal.app import create_app
from tests.support import (
    LAPSED,
    NURSES,
    SCHOOLS,
    Served,
    add_partner_user,
    chromium,
    entries,
    fill,
    publish_with_partners,
    register_partners,
    routes,
    serve_portal,
)
from tests.support import sign_in_browser as sign_in


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    with serve_portal(tmp_path_factory.mktemp("partner-browser")) as portal:
        yield portal


@pytest.fixture(scope="module")
def browser(served: Served) -> Iterator[Any]:
    with chromium() as launched:
        yield launched


def test_a_partner_user_downloads_in_chromium_and_never_reaches_a_school(
        served: Served, browser: Any) -> None:
    env, url = served.env, served.url
    register_partners(env)
    run_id, files = publish_with_partners(env)
    secret = add_partner_user(env, "nia.nurse@nhs.example", NURSES)
    context = browser.new_context(accept_downloads=True)
    page = context.new_page()
    sign_in(page, served, "nia.nurse@nhs.example", secret)
    # Generous: the password hash (Argon2id, ~0.5 s idle) took over 30 s on this shared
    # machine at a load average of 9.
    page.wait_for_url(f"{url}/agreement", timeout=180_000)
    page.check("input[name=accept]")
    page.click("form[action='/agreement'] button")
    page.wait_for_url(f"{url}/partners/{NURSES}")
    assert page.inner_text("#children") == "2"
    page.click("#download")
    page.wait_for_url(f"{url}/partners/{NURSES}/download")
    page.get_by_label("A safeguarding concern about a child in our cohort").check()
    with page.expect_download() as caught:
        page.click("#get-file")
    assert Path(caught.value.path()).read_bytes() == files[f"partner-{NURSES}.xlsx"]
    page.wait_for_url(re.compile(rf".*/partners/{NURSES}\?downloaded=\d+$"))
    assert "Your download has started" in page.inner_text("main")
    (entry,) = entries(env, "download")
    assert entry["partner_id"] == NURSES and entry["run_id"] == run_id
    school_pages = [p for m, p, _ in routes(create_app(env.settings))
                    if m == "GET" and p.startswith("/schools/")]
    assert school_pages
    for path in school_pages:
        for urn in SCHOOLS:
            response = page.goto(f"{url}{fill(path, urn)}")
            assert response.status == 403, path
            assert not any(name in page.content() for name in SCHOOLS.values())
    response = page.goto(f"{url}/partners/{LAPSED}")
    assert response.status == 404 and "Youth" not in page.content()
    assert len(entries(env, "download")) == 1
    context.close()
