"""Trying to break the council pages' access rule over HTTP: every route is either on the
public/school allow-list or council-only; a school user, a visitor and a half-signed-in
officer are refused on every council route, enumerated from ``app.routes`` (so a route added
later is tried too), and nothing changes."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from portal.app import create_app
from tests.support import (
    PASSWORD,
    SCHOOLS,
    A,
    B,
    Env,
    add_officer,
    add_user,
    app_of,
    council_routes,
    csrf_of,
    entries,
    fill,
    make_env,
    route_problems,
    sign_in,
    user_rows,
)


@pytest.fixture
def env(tmp_path_factory: pytest.TempPathFactory) -> Env:
    return make_env(tmp_path_factory.mktemp("council-access"))


@pytest.fixture
def client(env: Env) -> Iterator[TestClient]:
    with TestClient(create_app(env.settings), base_url="https://testserver",
                    follow_redirects=False) as c:
        yield c


def form_for(path: str, csrf: str) -> dict[str, str]:
    """A well-formed form for each council action, so a refusal is the role check's and not
    a missing field's: aimed at the OTHER school, B."""
    return {"csrf": csrf, "school": str(B), "name": "Mallory", "email": "mallory@birch.example",
            "role": "dsl", "reason": "testing", "rotate": "yes", "pseudonym": "a" * 64}




def test_every_route_is_public_school_or_council_only(client: TestClient) -> None:
    app = app_of(client)
    council = council_routes(app)
    assert len(council) >= 15, council  # the pages, the exports and the user actions
    assert route_problems(app) == []


def test_a_route_added_without_the_council_check_is_caught(env: Env) -> None:
    """The guard above can fail: a later route that forgets the rule is named."""
    app = create_app(env.settings)

    @app.get("/council/leak")
    def leak() -> str:
        return "everything"

    @app.post("/schools/{urn}/leak")
    def school_leak(urn: int) -> str:
        return "everything"

    assert route_problems(app) == ["GET /council/leak does not check the council role",
                                   "POST /schools/{urn}/leak is not on the public/school "
                                   "allow-list"]


def test_a_school_user_gets_403_on_every_council_route(env: Env, client: TestClient) -> None:
    secret = add_user(env, "sam.dsl@alder.example", [A], agreed=True)
    sign_in(client, env, "sam.dsl@alder.example", secret)
    csrf = csrf_of(client.get(f"/schools/{A}").text)
    before_users, before = user_rows(env), len(entries(env))
    tried = council_routes(app_of(client))
    for method, path in tried:
        for urn in (A, B):  # their own school and another: the same refusal
            url = fill(path, urn)
            if method == "GET":
                got = client.get(url, params={"school": str(B), "user": "x@birch.example"})
            else:
                got = client.post(url, data=form_for(path, csrf))
            assert got.status_code == 403, (method, url, got.status_code)
            assert "council officers only" in got.text
            assert SCHOOLS[B] not in got.text and "mallory" not in got.text
    refused = [e for e in entries(env, "refused")[-(2 * len(tried)):]]
    assert [e["what"] for e in refused] == ["not_council"] * 2 * len(tried)
    assert {e["actor_email"] for e in refused} == {"sam.dsl@alder.example"}
    assert user_rows(env) == before_users  # nothing added, left or reset
    assert len(entries(env)) == before + 2 * len(tried)  # only the refusals
    assert not entries(env, "council_action")


def test_a_visitor_is_sent_to_sign_in_and_a_forged_post_is_refused(env: Env,
                                                                   client: TestClient) -> None:
    csrf = csrf_of(client.get("/signin").text)  # a real pre-session token, no session
    for method, path in council_routes(client.app):  # type: ignore[arg-type]
        url = fill(path, A)
        if method == "GET":
            got = client.get(url)
            assert got.status_code == 303 and got.headers["location"] == "/signin", url
        else:
            for data in ({"csrf": csrf}, form_for(path, csrf), {}):
                got = client.post(url, data=data)
                assert got.status_code in (303, 403), (url, got.status_code)
                assert got.headers.get("location", "/signin") == "/signin"
    assert user_rows(env) == []


def test_the_second_factor_is_required_for_council_pages(env: Env,
                                                         client: TestClient) -> None:
    add_officer(env)
    page = client.get("/signin")
    done = client.post("/signin", data={"email": "olu.officer@council.example",
                                        "password": PASSWORD, "csrf": csrf_of(page.text)})
    assert done.headers["location"] == "/signin/second"  # password right, no code yet
    for method, path in council_routes(client.app):  # type: ignore[arg-type]
        if method == "GET":
            got = client.get(fill(path, A))
            assert got.status_code == 303 and got.headers["location"] == "/signin", path


def test_a_council_officer_who_left_is_refused_at_the_next_request(
        env: Env, client: TestClient) -> None:
    from portal import accounts
    from portal.events import COMMAND_LINE
    from portal.migrate import ready

    secret = add_officer(env)
    sign_in(client, env, "olu.officer@council.example", secret, agree=False,
            landing="/council")
    assert client.get("/council").status_code == 200
    with ready(env.settings.portal.database_url, env.settings.portal.state_dir).begin() as db:
        accounts.leave(db, "olu.officer@council.example", "moved on", COMMAND_LINE)
    got = client.get("/council")
    assert got.status_code == 303 and got.headers["location"] == "/signin"
