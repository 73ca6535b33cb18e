"""The council officer's pages in a real Chromium against a real uvicorn: an officer signs in
with a second factor and runs the week (schools, add a DSL, a leaver with the rotation note,
the escalation CSV); a school user is refused on every council route the app has. One server
and one browser for the module; two tests, to keep CI short."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from portal.app import create_app
from tests.support import (
    SCHOOLS,
    A,
    B,
    Served,
    add_officer,
    add_user,
    chromium,
    council_routes,
    fill,
    serve_portal,
    user_rows,
)
from tests.support import sign_in_browser as sign_in

OFFICER = "olu.officer@council.example"


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    with serve_portal(tmp_path_factory.mktemp("council-browser")) as portal:
        yield portal


@pytest.fixture(scope="module")
def browser(served: Served) -> Iterator[Any]:
    with chromium() as launched:
        yield launched




def test_an_officer_runs_the_week_in_the_browser(served: Served, browser: Any) -> None:
    env, url = served.env, served.url
    secret = add_officer(env, OFFICER)
    context = browser.new_context(accept_downloads=True)
    page = context.new_page()
    sign_in(page, served, OFFICER, secret)
    page.wait_for_url(f"{url}/council")  # an officer lands on the council pages
    page.click("#council-nav")
    page.wait_for_url(f"{url}/council")
    assert page.inner_text(f"#school-{A}").startswith(str(A))
    assert "nobody named" in page.inner_text(f"#school-{B}")
    # a new DSL: the link is shown once
    page.get_by_role("navigation", name="Menu").get_by_role("link", name="Users").click()
    page.fill("#add-school", str(A))
    page.fill("#add-name", "Ada Lead")
    page.fill("#add-email", "ada.lead@alder.example")
    page.click("#add button")
    assert page.inner_text("#link").startswith(f"{url}/enrol/")
    assert ("ada.lead@alder.example", "dsl", "invited", (A,)) in user_rows(env)
    # a leaver, with the school's password to change on the nightly host
    page.goto(f"{url}/council/users")
    page.fill("#leave-email", "ada.lead@alder.example")
    page.fill("#leave-reason", "left the school")
    page.check("#leave-rotate")
    page.click("#leave button")
    assert "Are you sure" in page.inner_text("h1")  # a confirmation step, nothing done yet
    assert ("ada.lead@alder.example", "dsl", "invited", (A,)) in user_rows(env)
    page.click("#remove-now")
    assert page.inner_text("#commands").strip() == f"databook keys rotate --school {A}"
    assert ("ada.lead@alder.example", "dsl", "left", ()) in user_rows(env)
    # the escalation list as CSV for the Board
    page.get_by_role("navigation", name="Menu").get_by_role("link", name="Escalation").click()
    with page.expect_download() as caught:
        page.click("#csv")
    text = Path(caught.value.path()).read_text()
    assert text.startswith("list,urn,name,") and f"no_named_dsl,{B}," in text
    context.close()


def test_a_school_user_is_refused_on_every_council_route_in_the_browser(
        served: Served, browser: Any) -> None:
    env, url = served.env, served.url
    secret = add_user(env, "sam.dsl@alder.example", [A], agreed=True)
    context = browser.new_context()
    page = context.new_page()
    sign_in(page, served, "sam.dsl@alder.example", secret)
    page.wait_for_url(f"{url}/schools/{A}")
    assert page.locator("#council-nav").count() == 0
    csrf = page.get_attribute("meta[name=csrf-token]", "content")
    tried = council_routes(create_app(env.settings))
    for method, path in tried:
        target = f"{url}{fill(path, B)}"
        if method == "GET":
            response = page.goto(f"{target}?school={B}")
            assert response.status == 403, target
            text = page.content()
        else:
            response = page.request.post(target, form={
                "csrf": csrf, "school": str(B), "email": "mallory@birch.example",
                "name": "Mallory", "reason": "x", "pseudonym": "a" * 64})
            assert response.status == 403, target
            text = response.text()
        assert "council officers only" in text and SCHOOLS[B] not in text
    assert not [r for r in user_rows(env) if r[0].startswith("mallory")]
    context.close()
