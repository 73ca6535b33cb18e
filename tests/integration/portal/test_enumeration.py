"""an address with no account behaves exactly like one with an account
(same statuses, same page, the same password hashes spent), and a lockout is not a switch a
stranger can hold down: it is per email address AND client address, so the DSL signs in from
their own address while a stranger hammers theirs. Over HTTP against the real app, on SQLite
and on the real PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from portal.app import create_app
from portal.migrate import ready
from tests.support import PASSWORD, Env, add_user, csrf_of, entries, make_env

A = 100001
KNOWN, UNKNOWN = "ann.lead@alder.example", "ann.leed@alder.example"
STRANGER, DSL_HOME = ("203.0.113.9", 40000), ("198.51.100.7", 40000)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def env(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Env:
    extra = ({} if request.param == "sqlite" else
             {"DATABOOK_PORTAL_DATABASE_URL": request.getfixturevalue("pg_url")})
    env = make_env(tmp_path_factory.mktemp("enumeration"), **extra)
    ready(env.settings.portal.database_url, env.settings.portal.state_dir)
    return env


@pytest.fixture
def app(env: Env) -> Any:
    return create_app(env.settings)


def client_at(app: Any, address: tuple[str, int]) -> TestClient:
    return TestClient(app, base_url="https://testserver", follow_redirects=False,
                      client=address)


@pytest.fixture
def stranger(app: Any) -> Iterator[TestClient]:
    with client_at(app, STRANGER) as c:
        yield c


def counting_hashes(app: Any) -> list[int]:
    """How many password hashes the app spends (the real hasher still runs)."""
    hashing = app.state.portal.hashing
    spent = [0]
    real: Callable[..., Any] = hashing.verify_sync

    def verify_sync(*args: Any) -> Any:
        spent[0] += 1
        return real(*args)

    hashing.verify_sync = verify_sync
    return spent


def attempt(client: TestClient, email: str, password: str) -> tuple[int, str]:
    token = csrf_of(client.get("/signin").text)
    got = client.post("/signin", data={"email": email, "password": password, "csrf": token})
    return got.status_code, got.text.replace(email, "EMAIL")


def test_an_unknown_address_answers_exactly_like_a_known_one(env: Env, app: Any,
                                                             stranger: TestClient) -> None:
    add_user(env, KNOWN, [A])
    spent = counting_hashes(app)
    answers: dict[str, list[tuple[int, str]]] = {}
    hashes: dict[str, list[int]] = {}
    limit = env.settings.portal.lockout_attempts
    for email in (KNOWN, UNKNOWN):
        answers[email], hashes[email] = [], []
        for i in range(limit + 2):
            before = spent[0]
            password = PASSWORD if i == limit else "not the password"
            answers[email].append(attempt(stranger, email, password))
            hashes[email].append(spent[0] - before)
    assert answers[KNOWN] == answers[UNKNOWN]
    assert [status for status, _page in answers[KNOWN]] == [401] * limit + [429, 429]
    assert hashes[KNOWN] == hashes[UNKNOWN] == [1] * limit + [0, 0]  # locked: no hash either


def test_a_stranger_cannot_keep_a_dsl_locked_out(env: Env, app: Any,
                                                 stranger: TestClient) -> None:
    """Neither the stranger's address lock nor the account's step-up delay (which a device
    the account has not used must wait out) keeps the DSL's own browser out."""
    secret = add_user(env, KNOWN, [A], agreed=True)
    with client_at(app, DSL_HOME) as dsl:
        assert attempt(dsl, KNOWN, PASSWORD)[0] == 303  # signed in here before the attack
        page = dsl.get("/signin/second")
        assert dsl.post("/signin/totp", data={"code": env.next_code(secret),
                                              "csrf": csrf_of(page.text)}).status_code == 303
        dsl.post("/signout", data={"csrf": csrf_of(dsl.get(f"/schools/{A}").text)})
        for _ in range(15):
            attempt(stranger, KNOWN, "guessing")
        assert attempt(stranger, KNOWN, PASSWORD)[0] == 429  # the stranger's address is locked
        assert attempt(dsl, KNOWN, PASSWORD)[0] == 303  # the DSL's own browser is not
        page = dsl.get("/signin/second")
        done = dsl.post("/signin/totp", data={"code": env.next_code(secret),
                                              "csrf": csrf_of(page.text)})
        assert done.status_code == 303 and done.headers["location"] == "/"
    [lock] = entries(env, "lockout")
    assert lock["client"] == STRANGER[0] and lock["actor_email"] == KNOWN
    assert entries(env, "signin_ok")[-1]["client"] == DSL_HOME[0]
