"""The officer's dashboard cannot be broken by one odd entry: a ledger holding a school's
download, a partner's download, a partner's refusal, a council officer's own form error and
action, and a look-up-free morning; then every council page (every GET route of the council
router, concrete URLs filled in) loads, as a page, never a 500."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from portal.app import create_app
from tests.support import (
    NURSES,
    A,
    B,
    Env,
    add_partner_user,
    add_user,
    app_of,
    council_routes,
    csrf_of,
    download,
    entries,
    fill,
    fill_partner,
    make_env,
    officer_client,
    publish_with_partners,
    register_partners,
    sign_in,
)

OFFICER = "olu.officer@council.example"


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def env(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Env:
    """On SQLite, and on the real PostgreSQL (a fresh schema)."""
    extra = ({} if request.param == "sqlite" else
             {"DATABOOK_PORTAL_DATABASE_URL": request.getfixturevalue("pg_url")})
    env = make_env(tmp_path_factory.mktemp("council-dashboard"), **extra)
    register_partners(env)
    return env


def client_for(env: Env) -> TestClient:
    return TestClient(create_app(env.settings), base_url="https://testserver",
                      follow_redirects=False)


@pytest.fixture
def officer(env: Env) -> Iterator[TestClient]:
    with officer_client(env, OFFICER) as c:
        yield c


def every_kind_of_entry(env: Env, officer: TestClient) -> str:
    """A school's download, a partner's download and refusal, an officer's form error."""
    run_id, _files = publish_with_partners(env)
    with client_for(env) as school:
        secret = add_user(env, "sam.dsl@alder.example", [A], agreed=True)
        sign_in(school, env, "sam.dsl@alder.example", secret)
        assert download(school, A).status_code == 200
    with client_for(env) as partner:
        secret = add_partner_user(env, "nia.nurse@nhs.example", NURSES)
        sign_in(partner, env, "nia.nurse@nhs.example", secret)
        form = partner.get(fill_partner("/partners/{partner_id}/download", NURSES))
        got = partner.post(f"/partners/{NURSES}/download", data={
            "csrf": csrf_of(form.text), "run_id": run_id, "reason": "concern"})
        assert got.status_code == 200, got.text
        assert partner.get(f"/schools/{A}").status_code in (403, 404)
    bad = officer.get("/council/audit/downloads", params={"school": "not a urn"})
    assert bad.status_code == 400
    kinds = {e["kind"] for e in entries(env)}
    assert {"download", "refused", "signin_ok", "agreement_accepted"} <= kinds
    assert any(e.get("partner_id") for e in entries(env, "download"))
    return run_id


def test_every_council_page_loads_with_school_partner_and_council_entries(
        env: Env, officer: TestClient) -> None:
    every_kind_of_entry(env, officer)
    routes = {p for m, p in council_routes(app_of(officer)) if m == "GET"}
    # A page of one record this test does not make (a concern, a sample check) is "not found",
    # never a fault; every other page loads.
    records = {p for p in routes if "{" in p.replace("{urn}", "")}
    pages = sorted(fill(p, A) for p in routes - records)
    assert "/council" in pages and "/council/audit/irregular" in pages
    for url in pages:
        got = officer.get(url)
        assert got.status_code == 200, (url, got.status_code, got.text[-500:])
    for url in sorted(fill(p, A) for p in records):
        assert officer.get(url).status_code == 404, url
    landing = officer.get("/council").text
    assert "by sam.dsl@alder.example" in landing  # the school's newest download, still shown


def test_the_landing_page_survives_a_partner_download_alone(env: Env,
                                                            officer: TestClient) -> None:
    """The first download of a morning is a partner's: the landing page still loads."""
    run_id, _files = publish_with_partners(env)
    with client_for(env) as partner:
        secret = add_partner_user(env, "nia.nurse@nhs.example", NURSES)
        sign_in(partner, env, "nia.nurse@nhs.example", secret)
        form = partner.get(f"/partners/{NURSES}/download")
        assert partner.post(f"/partners/{NURSES}/download", data={
            "csrf": csrf_of(form.text), "run_id": run_id, "reason": "concern"}
        ).status_code == 200
    page = officer.get("/council")
    assert page.status_code == 200 and "never" in page.text


def test_users_are_searched_filtered_and_paged_on_the_server(env: Env,
                                                             officer: TestClient) -> None:
    from portal.routers.council_users import PER_PAGE

    for n in range(PER_PAGE + 3):
        add_user(env, f"dsl{n:03d}@alder.example", [A])
    add_partner_user(env, "nia.nurse@nhs.example", NURSES)
    first = officer.get("/council/users", params={"q": "ALDER"})
    assert first.status_code == 200
    assert f'{PER_PAGE + 3} users match; page 1 of 2' in first.text
    assert "dsl000@alder.example" in first.text and "dsl052@alder.example" not in first.text
    assert "nia.nurse" not in first.text and 'rel="next"' in first.text
    second = officer.get("/council/users", params={"q": "alder", "page": "2"})
    assert "dsl052@alder.example" in second.text and 'rel="prev"' in second.text
    partners = officer.get("/council/users", params={"role": "partner"})
    assert "nia.nurse@nhs.example" in partners.text and "alder.example" not in partners.text
    odd = officer.get("/council/users", params={"q": "%_", "role": "nosuch", "page": "x"})
    assert odd.status_code == 200 and "0 users match" in odd.text  # LIKE wildcards are text


def test_a_page_per_school_and_the_schools_search(env: Env, officer: TestClient) -> None:
    every_kind_of_entry(env, officer)
    page = officer.get(f"/council/schools/{A}")
    assert page.status_code == 200
    text = page.text
    assert "sam.dsl@alder.example" in text and "Designated safeguarding lead" in text
    assert 'id="downloads"' in text and "A safeguarding concern about a pupil" in text
    assert "on no escalation list" in text and 'id="agreement">not signed' in text
    birch = officer.get(f"/council/schools/{B}").text
    assert "Nobody named to receive the databook" in birch and "Never downloaded" in birch
    assert officer.get("/council/schools/999999").status_code == 404
    assert f'href="/council/schools/{A}"' in officer.get("/council").text
    found = officer.get("/council", params={"q": "birch"}).text
    assert "Birch Academy" in found and "Alder Primary School" not in found
    assert re.search(r'id="school-total">1 of 3 schools', found)
    nobody = officer.get("/council", params={"show": "nobody"}).text
    assert "Birch Academy" in nobody and f'id="school-{A}"' not in nobody
