"""Sign-in, sessions, CSRF, headers, lockout and leavers, through the real app: each rule
is attacked, and the attack must be refused, change nothing and be recorded."""

from __future__ import annotations

import base64
from contextlib import AbstractContextManager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyotp
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from portal import accounts
from portal.app import create_app
from portal.events import COMMAND_LINE
from portal.migrate import ready
from portal.models import Credential, SigninBackoff, User, WebSession
from tests.support import (
    PASSWORD,
    Env,
    add_user,
    csrf_of,
    download,
    entries,
    make_env,
    sign_in,
    user_id,
)

A = 100001
EMAIL = "ann.lead@alder.example"


def db(env: Env) -> AbstractContextManager[Session]:
    return ready(env.settings.portal.database_url, env.settings.portal.state_dir).begin()


def password_step(client: TestClient, email: str = EMAIL, password: str = PASSWORD) -> int:
    page = client.get("/signin")
    return client.post("/signin", data={"email": email, "password": password,
                                        "csrf": csrf_of(page.text)}).status_code


def test_headers_and_cookie(client: TestClient, env: Env) -> None:
    secret = add_user(env, EMAIL, [A])
    page = client.get("/signin")
    csp = page.headers["content-security-policy"]
    assert "unsafe-inline" not in csp and "frame-ancestors 'none'" in csp
    assert page.headers["x-content-type-options"] == "nosniff"
    assert page.headers["cache-control"] == "no-store"
    assert page.headers["strict-transport-security"] == "max-age=31536000; includeSubDomains"
    done = client.post("/signin", data={"email": EMAIL, "password": PASSWORD,
                                        "csrf": csrf_of(page.text)})
    cookie = done.headers["set-cookie"]
    assert cookie.startswith("__Host-databook=")
    for flag in ("HttpOnly", "Secure", "SameSite=strict", "Path=/"):
        assert flag.lower() in cookie.lower()
    token = cookie.split(";")[0].split("=", 1)[1]
    assert len(base64.urlsafe_b64decode(token + "==")) >= 16  # >= 128 bits
    with db(env) as s:  # stored hashed, never as the token itself
        stored = list(s.scalars(select(WebSession.token_hash)))
    assert token not in stored and len(stored) == 1
    before = token
    page = client.get("/signin/second")
    done = client.post("/signin/totp", data={"code": env.next_code(secret),
                                             "csrf": csrf_of(page.text)})
    assert done.status_code == 303
    assert done.headers["set-cookie"].split(";")[0].split("=", 1)[1] != before  # rotated


def test_every_post_needs_the_csrf_token(client: TestClient, env: Env) -> None:
    secret = add_user(env, EMAIL, [A], agreed=True)
    assert client.post("/signin", data={"email": EMAIL, "password": PASSWORD}).status_code \
        == 403
    sign_in(client, env, EMAIL, secret)
    real = csrf_of(client.get("/signin").text)
    altered = real[:-1] + ("1" if real.endswith("0") else "0")  # never the real token again
    for token in ("", "0" * 64, altered):
        got = client.post(f"/schools/{A}/download",
                          data={"csrf": token, "run_id": env.run_id, "reason": "concern"})
        assert got.status_code == 403 and not got.headers.get("content-disposition")
    json_post = client.post("/signout", json={"csrf": "x"})
    assert json_post.status_code == 403
    assert not entries(env, "download")
    assert [r["what"] for r in entries(env, "refused")].count("bad_csrf") >= 4
    assert client.get(f"/schools/{A}").status_code == 200  # still signed in: nothing changed


def test_a_totp_code_works_once(client: TestClient, env: Env) -> None:
    secret = add_user(env, EMAIL, [A])
    code = pyotp.TOTP(secret).now()
    assert password_step(client) == 303
    page = client.get("/signin/second")
    assert client.post("/signin/totp", data={"code": code, "csrf": csrf_of(page.text)}
                       ).status_code == 303
    other = TestClient(client.app, base_url="https://testserver", follow_redirects=False)
    assert password_step(other) == 303
    page = other.get("/signin/second")
    replay = other.post("/signin/totp", data={"code": code, "csrf": csrf_of(page.text)})
    assert replay.status_code == 401 and "already been used" in replay.text
    assert other.get(f"/schools/{A}").status_code == 303  # not signed in
    failed = entries(env, "signin_failed")
    assert failed[-1]["reason"] == "second_factor" and failed[-1]["method"] == "totp"


def test_lockout_after_ten_failures_then_it_times_out(client: TestClient, env: Env) -> None:
    add_user(env, EMAIL, [A])
    for _ in range(10):
        assert password_step(client, password="wrong password here") == 401
    locked = password_step(client)  # the right password, but locked
    assert locked == 429
    [lock] = entries(env, "lockout")
    assert lock["failures"] == 10 and lock["actor_email"] == EMAIL
    assert entries(env, "signin_failed")[-1]["reason"] == "locked"
    with db(env) as s:
        s.execute(update(SigninBackoff).values(at=datetime.now(UTC) - timedelta(minutes=16)))
    assert password_step(client) == 303


def test_unknown_and_malformed_sign_ins(client: TestClient, env: Env) -> None:
    assert password_step(client, email="nobody@alder.example") == 401
    assert password_step(client, email="not an email") == 400
    page = client.get("/signin")
    huge = client.post("/signin", data={"email": "a" * 5000 + "@x.example",
                                        "password": "p", "csrf": csrf_of(page.text)})
    assert huge.status_code == 400
    body = client.post("/signin", content=b"email=" + b"a" * 100_000,
                       headers={"content-type": "application/x-www-form-urlencoded"})
    assert body.status_code == 413
    reasons = [e["reason"] for e in entries(env, "signin_failed")]
    assert reasons[:2] == ["unknown_user", "bad_input"]


def test_a_leavers_open_session_ends_at_the_next_request(client: TestClient, env: Env) -> None:
    secret = add_user(env, EMAIL, [A], agreed=True)
    sign_in(client, env, EMAIL, secret)
    page = client.get(f"/schools/{A}/download")
    assert page.status_code == 200
    with db(env) as s:
        accounts.leave(s, EMAIL, "left the school in July", COMMAND_LINE)
    got = client.post(f"/schools/{A}/download", data={"csrf": csrf_of(page.text),
                                                      "run_id": env.run_id,
                                                      "reason": "concern"})
    assert got.status_code in (303, 403) and not got.headers.get("content-disposition")
    assert client.get(f"/schools/{A}").status_code == 303
    assert password_step(client) == 403  # cannot sign in again: told access has ended
    with db(env) as s:
        assert not list(s.scalars(select(Credential).where(Credential.user_id == user_id(
            env, EMAIL))))
    [left] = entries(env, "user_left")
    assert "July" not in str(left)
    assert not entries(env, "download")


def _answer(client: TestClient, email: str, password: str) -> tuple[int, str, str]:
    got = client.post("/signin", data={"email": email, "password": password,
                                       "csrf": csrf_of(client.get("/signin").text)})
    return got.status_code, got.text.replace(email, "EMAIL"), got.headers.get("set-cookie", "")


def test_a_leaver_with_the_right_password_is_told_their_access_has_ended(
        tmp_path: Path) -> None:
    """The right password earns the page that says what happened and whom to ring (403, no
    session); a wrong one is answered exactly as any wrong password, and the guessing limits
    still hold; every attempt is a ``disabled`` failure in the ledger. The hash is kept, but no
    other path (a reset, being added again, an old link) reopens the account."""
    env = make_env(tmp_path, DATABOOK_PORTAL_CONTACT_NAME="the Safeguarding Hub",
                   DATABOOK_PORTAL_CONTACT_PHONE="01632 960 123",
                   DATABOOK_PORTAL_CONTACT_EMAIL="hub@council.example")
    add_user(env, EMAIL, [A], agreed=True)
    add_user(env, "bo.lead@alder.example", [A], agreed=True)
    portal = env.settings.portal
    with db(env) as s:
        old_link = accounts.reset(s, EMAIL, portal, COMMAND_LINE)
        accounts.leave(s, EMAIL, "left the school in July", COMMAND_LINE)
    with db(env) as s:
        assert s.scalar(select(User.password_hash).where(User.email == EMAIL))
        with pytest.raises(accounts.AccountError):
            accounts.reset(s, EMAIL, portal, COMMAND_LINE)
        with pytest.raises(accounts.AccountError):
            accounts.add_user(s, portal, urn=A, name="Ann", email=EMAIL, role="dsl",
                              origin=COMMAND_LINE)
    with TestClient(create_app(env.settings), base_url="https://testserver",
                    follow_redirects=False) as client:
        assert client.get("/" + old_link.url.split("/", 3)[3]).status_code == 410
        wrong_other = _answer(client, "bo.lead@alder.example", "not the password at all")
        wrong_leaver = _answer(client, EMAIL, "not the password at all")
        assert wrong_leaver == wrong_other and wrong_leaver[0] == 401
        assert "not right" in wrong_leaver[1] and "access has ended" not in wrong_leaver[1]
        status, page, cookie = _answer(client, EMAIL, PASSWORD)
        assert status == 403 and "__Host-databook=" not in cookie
        assert "<h1 class=\"govuk-heading-l\">Your access has ended</h1>" in page
        assert "the Safeguarding Hub" in page and 'href="tel:01632960123"' in page
        assert 'href="mailto:hub@council.example"' in page and "not right" not in page
        with db(env) as s:
            assert not list(s.scalars(select(WebSession)))  # refused before any session
        # the limits still apply: once locked, even the right password gets the lock page
        for _ in range(portal.lockout_attempts):
            _answer(client, EMAIL, "not the password at all")
        status, page, _ = _answer(client, EMAIL, PASSWORD)
        assert status == 429 and "locked" in page and "access has ended" not in page
    mine = [e for e in entries(env, "signin_failed") if e["actor_email"] == EMAIL]
    limit = portal.lockout_attempts  # the right password counted as a failure too
    assert [e["reason"] for e in mine] == ["disabled"] * limit + ["locked"] * 3


def test_idle_and_absolute_timeouts(client: TestClient, env: Env) -> None:
    secret = add_user(env, EMAIL, [A], agreed=True)
    sign_in(client, env, EMAIL, secret)
    assert client.get(f"/schools/{A}").status_code == 200
    with db(env) as s:
        s.execute(update(WebSession).values(
            last_seen_at=datetime.now(UTC) - timedelta(minutes=16)))
    assert client.get(f"/schools/{A}").status_code == 303
    sign_in(client, env, EMAIL, secret)
    with db(env) as s:
        s.execute(update(WebSession).values(created_at=datetime.now(UTC) - timedelta(hours=9)))
    assert client.get(f"/schools/{A}").status_code == 303


def test_pages_touch_their_session_and_delete_it_once_expired(client: TestClient,
                                                              env: Env) -> None:
    """The access check reads in a read-only transaction; the session's upkeep is written
    after it: an idle page moves ``last_seen_at``, an expired session's row goes."""
    secret = add_user(env, EMAIL, [A], agreed=True)
    sign_in(client, env, EMAIL, secret)
    earlier = datetime.now(UTC) - timedelta(minutes=5)
    with db(env) as s:
        s.execute(update(WebSession).values(last_seen_at=earlier))
    assert client.get(f"/schools/{A}").status_code == 200
    with db(env) as s:
        [seen] = s.scalars(select(WebSession.last_seen_at))
    assert (seen if seen.tzinfo else seen.replace(tzinfo=UTC)) > earlier + timedelta(minutes=4)
    with db(env) as s:
        s.execute(update(WebSession).values(
            last_seen_at=datetime.now(UTC) - timedelta(minutes=16)))
    assert client.get(f"/schools/{A}").status_code == 303
    with db(env) as s:
        assert not list(s.scalars(select(WebSession)))


def test_a_passkey_of_another_account_is_refused(client: TestClient, env: Env) -> None:
    add_user(env, EMAIL, [A])
    add_user(env, "bob.other@birch.example", [100002])
    other_id = b"credential-of-bob"
    with db(env) as s:
        s.add(Credential(user_id=user_id(env, "bob.other@birch.example"), kind="passkey",
                         credential_id=other_id, public_key=b"k", sign_count=0,
                         last_totp_step=0, created_at=datetime.now(UTC)))
    assert password_step(client) == 303
    page = client.get("/signin/second")
    token = csrf_of(page.text)
    assert client.post("/signin/passkey/options", headers={"x-csrf-token": token}
                       ).status_code == 200

    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).decode().rstrip("=")

    assertion = {"id": b64(other_id), "rawId": b64(other_id), "type": "public-key",
                 "response": {"clientDataJSON": b64(b"{}"), "authenticatorData": b64(b"\0" * 37),
                              "signature": b64(b"\0" * 8)}}
    got = client.post("/signin/passkey/verify", json=assertion, headers={"x-csrf-token": token})
    assert got.status_code == 403 and "not registered to this account" in got.text
    assert client.get(f"/schools/{A}").status_code == 303
    assert entries(env, "signin_failed")[-1]["method"] == "passkey"


def test_a_new_agreement_version_must_be_accepted_again(tmp_path: Path) -> None:
    newer = make_env(tmp_path / "v2", DATABOOK_PORTAL_AGREEMENT_VERSION="2.0")
    secret = add_user(newer, EMAIL, [A], agreed="1.0")
    with TestClient(create_app(newer.settings), base_url="https://testserver",
                    follow_redirects=False) as c:
        sign_in(c, newer, EMAIL, secret, agree=False)
        assert c.get(f"/schools/{A}").headers["location"] == "/agreement"
        assert c.post(f"/schools/{A}/download", data={
            "csrf": csrf_of(c.get("/agreement").text), "run_id": newer.run_id,
            "reason": "concern"}).status_code == 303
        assert "has changed" in c.get("/agreement").text
        sign_in(c, newer, EMAIL, secret)
        assert download(c, A).status_code == 200
        assert entries(newer, "agreement_accepted")[-1]["version"] == "2.0"


@pytest.mark.parametrize("value", ["a", "-1", "99999"])
def test_bad_portal_settings_are_one_line(tmp_path: Path, value: str) -> None:
    from flows.settings import SettingsError, load

    with pytest.raises(SettingsError, match="idle_minutes") as caught:
        load(environ={"DATABOOK_HOME": str(tmp_path), "DATABOOK_PORTAL_IDLE_MINUTES": value})
    assert "\n" not in str(caught.value)
