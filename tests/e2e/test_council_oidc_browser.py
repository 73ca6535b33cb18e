"""A council officer signs in through the council's real OpenID provider in Chromium: the
portal's sign-in page, the provider's own page, back to the council pages; then, removed from
the council's group at the provider, the officer is sent back through it at the next re-check
and refused with one clear message."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.oidc_provider import OFFICER, Provider, provider
from tests.support import Served, chromium, entries, free_port, serve_portal_at, user_rows


@pytest.fixture(scope="module")
def both(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Provider, Served]]:
    tmp: Path = tmp_path_factory.mktemp("oidc-browser")
    port = free_port()
    with provider(tmp, f"http://localhost:{port}/signin/council/callback") as idp, \
            serve_portal_at(tmp / "portal", port, **idp.settings(recheck=3)) as served:
        yield idp, served


def test_an_officer_signs_in_through_the_provider_and_is_cut_off_when_removed(
        both: tuple[Provider, Served]) -> None:
    idp, served = both
    url = served.url
    with chromium() as browser:
        page = browser.new_context().new_page()
        page.goto(f"{url}/signin")
        page.click("#council-signin")
        page.fill("#login", "olu")
        page.click("#provider-signin")
        page.wait_for_url(f"{url}/council")
        assert page.locator("#council-nav").count() == 1
        assert ("olu.officer@council.example", "council", "active", ()) in user_rows(served.env)
        idp.accounts(olu=OFFICER | {"groups": ["finance"]})
        time.sleep(3.2)
        page.goto(f"{url}/council/users")  # the re-check: back through the provider
        page.wait_for_load_state()
        assert "not in the group" in page.content()
        assert page.url.startswith(f"{url}/signin/council/callback")
    kinds = [(e["kind"], e.get("reason")) for e in entries(served.env)
             if e.get("method") == "oidc"]
    assert kinds == [("signin_ok", None), ("signin_failed", "oidc_group")]
