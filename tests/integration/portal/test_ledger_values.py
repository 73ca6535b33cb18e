"""the permanent ledger holds only values the server chose. A visitor's
User-Agent and request path (a child's name and address went in through both) never reach an
entry: a browser family and the route's template do. And the internet cannot append without
limit: one address's failures beyond the limit are one aggregated ``throttled`` entry. Over
HTTP against the real app, on SQLite and on the real PostgreSQL."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from portal.app import create_app
from portal.migrate import ready
from portal.server_values import FAMILIES, agent_family
from tests.support import Env, add_user, csrf_of, entries, make_env, sign_in

A = 100001
CHILD = "Jane Doe, 1 High Street"
AGENT = f"Mozilla/5.0 ({CHILD}) AppleWebKit/537.36 Chrome/120.0 Safari/537.36"


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def env(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Env:
    extra = ({} if request.param == "sqlite" else
             {"DATABOOK_PORTAL_DATABASE_URL": request.getfixturevalue("pg_url")})
    env = make_env(tmp_path_factory.mktemp("values"), **extra)
    ready(env.settings.portal.database_url, env.settings.portal.state_dir)
    return env


@pytest.fixture
def client(env: Env) -> Iterator[TestClient]:
    with TestClient(create_app(env.settings), base_url="https://testserver",
                    follow_redirects=False, headers={"User-Agent": AGENT}) as c:
        yield c


def everything(env: Env) -> str:
    return json.dumps(entries(env))


def test_no_user_agent_text_or_path_reaches_the_ledger(env: Env, client: TestClient) -> None:
    token = csrf_of(client.get("/signin").text)
    got = client.post("/signin", data={"email": "nobody@alder.example", "password": "x",
                                       "csrf": token})
    assert got.status_code == 401
    secret = add_user(env, "ann.lead@alder.example", [A], agreed=True)
    sign_in(client, env, "ann.lead@alder.example", secret)
    name = CHILD.replace(" ", "%20").replace(",", "%2C")
    assert client.get(f"/schools/{name}").status_code == 400
    assert client.get(f"/schools/100002?who={name}").status_code == 404
    assert client.get(f"/{name}/x").status_code == 404
    assert client.get("/schools/100002/download", headers={
        "User-Agent": "Mozilla/5.0 Gecko/20100101 Firefox/133.0"}).status_code == 404
    found = everything(env)
    assert "Jane" not in found and "High" not in found
    refused = [(e["what"], e["path"], e["user_agent"]) for e in entries(env, "refused")]
    assert refused == [("bad_input", "/schools/{urn}", "chrome"),
                       ("other_school", "/schools/{urn}", "chrome"),
                       ("not_found", "(no route)", "chrome"),
                       ("other_school", "/schools/{urn}/download", "firefox")]
    assert {e.get("user_agent") for e in entries(env)} <= set(FAMILIES)


def test_agent_families() -> None:
    edge = ("Mozilla/5.0 (Windows NT 10.0) AppleWebKit/537.36 (KHTML, like Gecko) "
            "Chrome/131.0 Safari/537.36 Edg/131.0")
    safari = ("Mozilla/5.0 (Macintosh) AppleWebKit/605.1.15 (KHTML, like Gecko) "
              "Version/17.1 Safari/605.1.15")
    assert [agent_family(a) for a in (edge, AGENT, safari, "curl/8.5", None, "")] == [
        "edge", "chrome", "safari", "other", "none", "none"]


def test_one_addresses_failures_beyond_the_limit_are_one_entry(env: Env,
                                                               client: TestClient) -> None:
    limit = client.app.state.portal.throttle.limit  # type: ignore[attr-defined]
    client = TestClient(client.app, base_url="https://testserver", follow_redirects=False,
                        client=("192.0.2.7", 50000))
    token = csrf_of(client.get("/signin").text)
    pages = set()
    for i in range(limit + 15):
        got = client.post("/signin", data={"email": f"n{i}@alder.example", "password": "x",
                                           "csrf": token})
        assert got.status_code == 401
        pages.add(got.text.replace(f"n{i}@alder.example", ""))
    assert len(pages) == 1  # the visitor sees no difference
    kinds = [e["kind"] for e in entries(env)]
    assert kinds == ["signin_failed"] * limit + ["throttled"]
    throttled = entries(env, "throttled")[0]
    assert (throttled["what"], throttled["limit"], throttled["client"]) == (
        "signin_failed", limit, "192.0.2.7")


def test_anonymous_failures_from_rotating_addresses_are_aggregated(
        env: Env, client: TestClient) -> None:
    throttle = client.app.state.portal.throttle  # type: ignore[attr-defined]
    throttle.anonymous_limit = 30
    for i in range(60):
        other = TestClient(client.app, base_url="https://testserver", follow_redirects=False,
                           client=(f"2001:db8::{i + 1:x}", 50000))
        token = csrf_of(other.get("/signin").text)
        assert other.post("/signin", data={"email": f"n{i}@alder.example", "password": "x",
                                           "csrf": token}).status_code == 401
    kinds = [e["kind"] for e in entries(env)]
    assert kinds == ["signin_failed"] * 30 + ["throttled"]
    assert "client" not in entries(env, "throttled")[0]


def test_the_signed_client_is_only_ever_an_address(env: Env, client: TestClient) -> None:
    odd = TestClient(client.app, base_url="https://testserver", follow_redirects=False,
                     client=("203.0.113.9, <script>", 50000))
    token = csrf_of(odd.get("/signin").text)
    odd.post("/signin", data={"email": "n@alder.example", "password": "x", "csrf": token})
    assert "client" not in entries(env, "signin_failed")[-1]
