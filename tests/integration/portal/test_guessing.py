"""Guessing limits that hold per account whatever the client address: through the real app,
each request from its own address, as an attacker with many addresses would send them."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager
from datetime import UTC, datetime, timedelta

import pyotp
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.migrate import ready
from portal.models import SigninBackoff
from portal.security import guard
from tests.support import PASSWORD, Env, add_user, csrf_of, entries

A = 100001
EMAIL = "ann.lead@alder.example"


def db(env: Env) -> AbstractContextManager[Session]:
    return ready(env.settings.portal.database_url, env.settings.portal.state_dir).begin()


def from_address(app: FastAPI, n: int) -> TestClient:
    """A browser at its own address (documentation range), with no cookies."""
    return TestClient(app, base_url="https://testserver", follow_redirects=False,
                      client=(f"2001:db8::{n:x}", 40000 + n))


def password_step(client: TestClient, password: str = PASSWORD) -> tuple[int, str]:
    page = client.get("/signin")
    got = client.post("/signin", data={"email": EMAIL, "password": password,
                                       "csrf": csrf_of(page.text)})
    return got.status_code, got.text


def code_step(client: TestClient, code: str) -> tuple[int, str]:
    page = client.get("/signin/second")
    got = client.post("/signin/totp", data={"code": code, "csrf": csrf_of(page.text)})
    return got.status_code, got.text


def wrong_code(secret: str) -> str:
    totp = pyotp.TOTP(secret)
    right = {totp.at(datetime.now(UTC) + timedelta(seconds=30 * k)) for k in (-1, 0, 1)}
    return next(c for c in (f"{n:06d}" for n in range(0, 999_999, 7919)) if c not in right)


def age_failures(env: Env, minutes: int) -> None:
    """As if every failure so far had happened ``minutes`` earlier."""
    with db(env) as s:
        for row in s.scalars(select(SigninBackoff)):
            row.at = row.at - timedelta(minutes=minutes)


@pytest.fixture
def app(client: TestClient) -> Iterator[FastAPI]:
    yield client.app  # type: ignore[misc]


def test_forty_wrong_passwords_from_forty_addresses_then_the_right_one(
        app: FastAPI, client: TestClient, env: Env) -> None:
    secret = add_user(env, EMAIL, [A], agreed=True)
    own = from_address(app, 9999)  # the DSL's own browser: signed in once before the attack
    assert password_step(own)[0] == 303
    done = own.post("/signin/totp", data={"code": env.next_code(secret), "csrf": csrf_of(
        own.get("/signin/second").text)})
    assert done.status_code == 303 and "databook-device" in done.headers["set-cookie"]
    own.post("/signout", data={"csrf": csrf_of(own.get(f"/schools/{A}").text)})

    statuses = [password_step(from_address(app, n), f"guess number {n:03d}")[0]
                for n in range(40)]
    checked = statuses.count(401)  # a password actually tried against the hash
    assert checked == guard.FREE and statuses.count(429) == 40 - guard.FREE
    status, text = password_step(from_address(app, 41))  # the right one, a new address
    assert status == 429 and "must wait" in text
    assert [e["reason"] for e in entries(env, "signin_failed")].count("delayed") >= 31
    [under_attack] = entries(env, "account_delayed")
    assert under_attack["actor_email"] == EMAIL and under_attack["failures"] == guard.FREE

    # The attacker's flood does not keep the DSL's own browser out ...
    assert password_step(own)[0] == 303
    assert code_step(own, env.next_code(secret))[0] == 303
    # ... and once the delay has passed, the right password works from anywhere.
    age_failures(env, guard.CAP_S // 60 + 1)
    assert password_step(from_address(app, 42))[0] == 303


def test_a_hundred_and_ten_wrong_codes_across_addresses_fail_long_before(
        app: FastAPI, env: Env) -> None:
    secret = add_user(env, EMAIL, [A], agreed=True)
    bad = wrong_code(secret)
    tried = refused = 0
    address = 0
    while tried + refused < 110:
        address += 1
        attacker = from_address(app, address)
        if password_step(attacker)[0] != 303:  # the password is known, but may be delayed
            refused += 1
            continue
        for _ in range(10):  # as many codes as the session allows
            status, _ = code_step(attacker, bad)
            if status == 401:
                tried += 1
            else:
                refused += 1
                break
            if tried + refused >= 110:
                break
    # Codes actually checked: the free ones and the few whose doubling delay passed while
    # this test ran (2 s, 4 s, 8 s ...), not 110.
    assert tried <= guard.FREE + 5, tried
    # A session gets at most FACTOR_PER_SESSION tries, then needs the password again.
    reasons = [e["reason"] for e in entries(env, "signin_failed")]
    assert reasons.count("second_factor") == tried
    assert "delayed" in reasons
    # The right code from a new address is not let through while the account is delayed.
    status, _ = password_step(from_address(app, 500))
    assert status == 429


def test_a_pending_session_gets_a_few_codes_then_needs_the_password(
        app: FastAPI, env: Env) -> None:
    secret = add_user(env, EMAIL, [A], agreed=True)
    attacker = from_address(app, 1)
    assert password_step(attacker)[0] == 303
    statuses = [code_step(attacker, wrong_code(secret))[0]
                for _ in range(guard.FACTOR_PER_SESSION + 1)]
    assert statuses == [401] * guard.FACTOR_PER_SESSION + [429]
    assert attacker.get("/signin/second").status_code == 303  # that session is gone
    assert "too_many_codes" in [e["reason"] for e in entries(env, "signin_failed")]


def test_a_cap_on_codes_per_account_across_sessions(app: FastAPI, env: Env) -> None:
    secret = add_user(env, EMAIL, [A], agreed=True)
    tried, n = 0, 0
    while tried < guard.FACTOR_PER_ACCOUNT:
        n += 1
        attacker = from_address(app, n)
        assert password_step(attacker)[0] == 303
        for _ in range(guard.FACTOR_PER_SESSION):
            assert code_step(attacker, wrong_code(secret))[0] == 401
            tried += 1
            age_failures(env, guard.CAP_S // 60 + 1)  # slow enough for every delay ...
    attacker = from_address(app, 900)
    assert password_step(attacker)[0] == 303
    status, text = code_step(attacker, env.next_code(secret))  # ... but the cap holds
    assert status == 429 and "Too many wrong codes" in text
