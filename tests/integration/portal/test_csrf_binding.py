"""a CSRF token is bound to the signed-in session (a pre-session token
only before sign-in), every cookie is ``__Host-`` prefixed over HTTPS, and a POST a browser
marks as cross-site is refused whatever token it carries. Over HTTP against the real app, on
SQLite and on the real PostgreSQL (the session is read from the database)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from portal.app import create_app
from portal.migrate import ready
from tests.support import (
    A,
    Env,
    add_user,
    csrf_of,
    entries,
    make_env,
    officer_client,
    sign_in,
    user_rows,
)

OFFICER = "olu.officer@council.example"
DSL = "lee.dsl@alder.example"


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def env(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Env:
    extra = ({} if request.param == "sqlite" else
             {"DATABOOK_PORTAL_DATABASE_URL": request.getfixturevalue("pg_url")})
    env = make_env(tmp_path_factory.mktemp("csrf"), **extra)
    ready(env.settings.portal.database_url, env.settings.portal.state_dir)  # migrated
    return env


@pytest.fixture
def officer(env: Env) -> Iterator[TestClient]:
    with officer_client(env, OFFICER) as c:
        yield c


@pytest.fixture
def stranger(env: Env) -> Iterator[TestClient]:
    """The attacker's own browser: anonymous, with its own pre-session cookie and token."""
    with TestClient(create_app(env.settings), base_url="https://testserver",
                    follow_redirects=False) as c:
        yield c


def attacker_pair(stranger: TestClient) -> tuple[str, str, str]:
    """The pre-session cookie (name, value) the portal gave the attacker, and its token."""
    page = stranger.get("/signin")
    [(name, value)] = page.cookies.items()
    return name, value, csrf_of(page.text)


def test_a_planted_pre_cookie_and_its_token_cannot_act_as_the_officer(
        env: Env, officer: TestClient, stranger: TestClient) -> None:
    add_user(env, DSL, [A], agreed=True)
    name, pre, token = attacker_pair(stranger)
    officer.cookies.set(name, pre, domain="testserver.local")
    before, count = user_rows(env), len(entries(env))
    got = officer.post("/council/users/leave", data={"email": DSL, "reason": "forged",
                                                     "csrf": token})
    assert got.status_code == 403, got.text[-300:]
    assert user_rows(env) == before  # the DSL is still there
    after = entries(env)[count:]
    assert [(e["kind"], e["what"], e["actor_email"]) for e in after] == [
        ("refused", "bad_csrf", OFFICER)]
    assert not [e for e in after if e["kind"] == "user_left"]


def test_a_planted_pre_cookie_cannot_download_a_dsls_file(env: Env,
                                                          stranger: TestClient) -> None:
    secret = add_user(env, DSL, [A], agreed=True)
    with TestClient(create_app(env.settings), base_url="https://testserver",
                    follow_redirects=False) as dsl:
        sign_in(dsl, env, DSL, secret)
        page = dsl.get(f"/schools/{A}/download")
        run = page.text.split('name="run_id" value="')[1].split('"')[0]
        name, pre, token = attacker_pair(stranger)
        dsl.cookies.set(name, pre, domain="testserver.local")
        got = dsl.post(f"/schools/{A}/download", data={"csrf": token, "run_id": run,
                                                        "reason": "concern"})
        assert got.status_code == 403
        assert not entries(env, "download")
        # The page's own token still works: the binding is the session's.
        ok = dsl.post(f"/schools/{A}/download", data={"csrf": csrf_of(page.text),
                                                       "run_id": run, "reason": "concern"})
        assert ok.status_code == 200 and len(entries(env, "download")) == 1


@pytest.mark.parametrize("headers", [
    {"Origin": "https://evil.example"},
    {"Origin": "null"},
    {"Sec-Fetch-Site": "cross-site"},
    {"Sec-Fetch-Site": "same-site"},
    {"Origin": "https://testserver", "Sec-Fetch-Site": "same-site"},
])
def test_a_cross_site_post_is_refused_even_with_a_valid_token(
        env: Env, officer: TestClient, headers: dict[str, str]) -> None:
    add_user(env, DSL, [A], agreed=True)
    token = csrf_of(officer.get("/council/users").text)
    before = user_rows(env)
    got = officer.post("/council/users/leave", data={"email": DSL, "reason": "x",
                                                     "csrf": token}, headers=headers)
    assert got.status_code == 403
    assert user_rows(env) == before
    assert entries(env)[-1]["what"] == "cross_site"


def test_same_origin_and_header_less_posts_with_the_sessions_token_work(
        env: Env, officer: TestClient) -> None:
    add_user(env, DSL, [A], agreed=True)
    add_user(env, "kim.dsl@alder.example", [A], agreed=True)
    token = csrf_of(officer.get("/council/users").text)
    same = officer.post("/council/users/leave", data={"email": DSL, "reason": "x",
                                                      "csrf": token, "confirm": "yes"},
                        headers={"Origin": "https://testserver",
                                 "Sec-Fetch-Site": "same-origin"})
    assert same.status_code == 200, same.text[-300:]
    bare = officer.post("/council/users/leave", data={
        "email": "kim.dsl@alder.example", "reason": "x", "csrf": token, "confirm": "yes"})
    assert bare.status_code == 200 and "has left" in bare.text


def test_every_cookie_is_host_prefixed_over_https(env: Env, stranger: TestClient) -> None:
    page = stranger.get("/signin")
    cookies = page.headers.get_list("set-cookie")
    assert cookies and all(c.startswith("__Host-") for c in cookies), cookies
    assert all("Secure" in c and "Path=/" in c and "Domain" not in c for c in cookies)
    secret = add_user(env, DSL, [A], agreed=True)
    token = csrf_of(page.text)
    done = stranger.post("/signin", data={"email": DSL, "password": "tortoise lantern quarry 42",
                                          "csrf": token})
    assert done.status_code == 303
    assert all(c.startswith("__Host-") for c in done.headers.get_list("set-cookie"))
    assert secret


def test_the_pre_session_token_stops_working_once_signed_in(env: Env,
                                                            stranger: TestClient) -> None:
    """A token the visitor had before signing in (bound to their pre cookie) is no use with
    their session: a page from before sign-in cannot post as them."""
    secret = add_user(env, DSL, [A], agreed=True)
    old = csrf_of(stranger.get("/signin").text)
    sign_in(stranger, env, DSL, secret)
    got = stranger.post("/signout", data={"csrf": old})
    assert got.status_code == 403
