"""The lockout under attack from many requests at once: the password is hashed with no
transaction open, so the limit must hold because the outcome is re-checked under the write
lock, on SQLite and on PostgreSQL, with two workers (apps) sharing one database."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from portal.app import create_app
from portal.migrate import ready
from portal.models import SigninAttempt, SigninBackoff
from tests.support import PASSWORD, Env, add_user, csrf_of, entries, make_env

A = 100001
EMAIL = "ann.lead@alder.example"
WORKERS, PER_WORKER = 2, 8  # 16 wrong passwords at once against a limit of 10


@pytest.fixture(params=["sqlite", "postgresql"])
def shared_env(request: pytest.FixtureRequest, tmp_path: Path) -> Env:
    if request.param == "sqlite":
        return make_env(tmp_path)
    return make_env(tmp_path, DATABOOK_PORTAL_DATABASE_URL=request.getfixturevalue("pg_url"))


@pytest.fixture
def workers(shared_env: Env) -> Iterator[list[TestClient]]:
    with ExitStack() as stack:
        yield [stack.enter_context(TestClient(create_app(shared_env.settings),
                                              base_url="https://testserver",
                                              follow_redirects=False))
               for _ in range(WORKERS)]


def attempt(client: TestClient, token: str, password: str) -> int:
    return client.post("/signin", data={"email": EMAIL, "password": password,
                                        "csrf": token}).status_code


def test_concurrent_wrong_passwords_lock_at_exactly_the_limit(
        shared_env: Env, workers: list[TestClient]) -> None:
    add_user(shared_env, EMAIL, [A])
    tokens = [csrf_of(c.get("/signin").text) for c in workers]
    jobs = [(c, t) for c, t in zip(workers, tokens, strict=True) for _ in range(PER_WORKER)]
    with ThreadPoolExecutor(len(jobs)) as pool:
        statuses = list(pool.map(lambda job: attempt(job[0], job[1], "wrong password here"), jobs))

    limit = shared_env.settings.portal.lockout_attempts
    assert Counter(statuses) == {401: limit, 429: len(jobs) - limit}
    with ready(shared_env.settings.portal.database_url)() as db:
        failures = db.scalar(select(func.count(SigninAttempt.id)).where(
            SigninAttempt.ok.is_(False)))
        assert failures == limit
        # one row for the (email, address) pair and one for the account, per failure
        assert db.scalar(select(func.count(SigninBackoff.id))) == 2 * limit
    [lock] = entries(shared_env, "lockout")
    assert lock["failures"] == limit
    reasons = Counter(e["reason"] for e in entries(shared_env, "signin_failed"))
    assert reasons == {"password": limit, "locked": len(jobs) - limit}
    assert attempt(workers[0], tokens[0], PASSWORD) == 429  # even the right one, now


def code_attempt(client: TestClient, code: str) -> int:
    page = client.get("/signin/second")
    return client.post("/signin/totp", data={"code": code,
                                             "csrf": csrf_of(page.text)}).status_code


def test_concurrent_wrong_codes_lock_at_exactly_the_limit(
        shared_env: Env, workers: list[TestClient]) -> None:
    """Sixteen sessions past the password step send a wrong code at once: the second-factor
    check re-reads the account under the writer lock, so exactly ``lockout_attempts`` count."""
    secret = add_user(shared_env, EMAIL, [A])
    apps = [w.app for w in workers]
    with ExitStack() as stack:
        sessions = [stack.enter_context(TestClient(apps[i % len(apps)],
                                                   base_url="https://testserver",
                                                   follow_redirects=False))
                    for i in range(WORKERS * PER_WORKER)]
        for client in sessions:
            token = csrf_of(client.get("/signin").text)
            assert attempt(client, token, PASSWORD) == 303
        right = shared_env.next_code(secret)
        wrong = f"{(int(right) + 1) % 1_000_000:06d}"
        with ThreadPoolExecutor(len(sessions)) as pool:
            statuses = list(pool.map(lambda client: code_attempt(client, wrong), sessions))

        limit = shared_env.settings.portal.lockout_attempts
        assert Counter(statuses) == {401: limit, 429: len(sessions) - limit}
        [lock] = entries(shared_env, "lockout")
        assert lock["failures"] == limit
        reasons = Counter(e["reason"] for e in entries(shared_env, "signin_failed"))
        assert reasons == {"second_factor": limit, "locked": len(sessions) - limit}
        assert code_attempt(sessions[0], right) == 429  # even the right code, now
        assert entries(shared_env, "signin_ok") == []
