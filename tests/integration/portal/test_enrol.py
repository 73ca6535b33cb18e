"""Enrolment links, the password policy, TOTP enrolment, and the officer's commands."""

from __future__ import annotations

import re
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyotp
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from portal import accounts
from portal.accounts import AccountError
from portal.app import create_app
from portal.events import COMMAND_LINE
from portal.migrate import ready
from portal.models import EnrolmentToken, User
from portal.security.passwords import PasswordRejected, check_policy
from tests.support import PASSWORD, Env, add_user, csrf_of, download, entries, make_env, sign_in

A = 100001
GOOD = "heron meadow copper 1987"


def new_link(env: Env, email: str = "ann.lead@alder.example", urn: int = A) -> str:
    portal = env.settings.portal
    with ready(portal.database_url, portal.state_dir).begin() as db:
        _, link = accounts.add_user(db, portal, urn=urn, name="Ann Lead", email=email,
                                    role="dsl", origin=COMMAND_LINE)
    assert link is not None
    return "/" + link.url.split("/", 3)[3]


def set_password(client: TestClient, path: str, password: str, confirm: str | None = None
                 ) -> int:
    page = client.get(path)
    if page.status_code != 200:
        return page.status_code
    return client.post(path, data={"password": password, "confirm": confirm or password,
                                   "csrf": csrf_of(page.text)}).status_code


def test_enrol_with_totp_then_agree_then_download(client: TestClient, env: Env) -> None:
    path = new_link(env)
    assert set_password(client, path, "short") == 400
    assert set_password(client, path, "password123456") == 400  # on the common list
    assert set_password(client, path, GOOD, GOOD + "x") == 400
    with ready(env.settings.portal.database_url, env.settings.portal.state_dir)() as db:
        assert db.scalar(select(User.password_hash)) is None  # nothing changed
    assert set_password(client, path, GOOD) == 303
    setup = client.get("/enrol/totp/setup")
    secret = re.search(r'id="secret">([A-Z2-7]+)<', setup.text)
    assert secret and "otpauth://totp/" in setup.text
    assert client.post("/enrol/totp", data={"code": "000000", "csrf": csrf_of(setup.text)}
                       ).status_code == 400
    done = client.post("/enrol/totp", data={"code": pyotp.TOTP(secret.group(1)).now(),
                                            "csrf": csrf_of(setup.text)})
    assert done.status_code == 303 and done.headers["location"] == "/agreement"
    page = client.get("/agreement")
    assert "private place" in page.text and "version 1.0" in page.text
    assert client.post("/agreement", data={"csrf": csrf_of(page.text), "version": "1.0"}
                       ).status_code == 400  # the box was not ticked
    assert client.post("/agreement", data={"csrf": csrf_of(page.text), "version": "1.0",
                                           "accept": "yes"}).status_code == 303
    assert download(client, A).status_code == 200
    kinds = [e["kind"] for e in entries(env)]
    for kind in ("user_added", "second_factor_added", "enrolled", "agreement_accepted",
                 "download"):
        assert kind in kinds


def test_a_link_works_once_and_expires(client: TestClient, env: Env) -> None:
    path = new_link(env)
    assert set_password(client, path, GOOD) == 303
    fresh = TestClient(client.app, base_url="https://testserver", follow_redirects=False)
    assert set_password(fresh, path, "another good password 7") == 410
    second = new_link(env, "bo.deputy@alder.example")
    with ready(env.settings.portal.database_url, env.settings.portal.state_dir).begin() as db:
        db.execute(update(EnrolmentToken).values(
            expires_at=datetime.now(UTC) - timedelta(minutes=1)))
    assert set_password(fresh, second, GOOD) == 410
    assert fresh.get("/enrol/not-a-real-token").status_code == 410
    reasons = [e["reason"] for e in entries(env, "enrolment_failed")]
    assert {"used", "expired", "unknown"} <= set(reasons)


def test_reset_never_bypasses_the_second_factor(client: TestClient, env: Env) -> None:
    from tests.support import add_user

    add_user(env, "ann.lead@alder.example", [A], agreed=True)
    portal = env.settings.portal
    with ready(portal.database_url, portal.state_dir).begin() as db:
        link = accounts.reset(db, "ann.lead@alder.example", portal, COMMAND_LINE)
    path = "/" + link.url.split("/", 3)[3]
    assert set_password(client, path, GOOD) == 303
    assert client.get(f"/schools/{A}").status_code == 303  # still needs the second factor
    assert client.get("/enrol/factor").status_code == 303  # cannot add a new one instead
    assert client.get("/signin/second").status_code == 200


def test_password_policy() -> None:
    check_policy("a perfectly fine passphrase")
    check_policy(GOOD, "ann.lead@alder.example", ("Alder Primary School", "Shire Council"))
    for bad in ("elevenchars", "Password1234", "ann.lead is me 2026"):
        with pytest.raises(PasswordRejected):
            check_policy(bad, "ann.lead@alder.example")


@pytest.mark.parametrize(("bad", "says"), [
    (" " * 12, "at least 12 characters"), ("aaaaaaaaaaaaaaaa", "at least 12 characters"),
    ("Password2026!", "common passwords"), ("P@ssw0rd2026!!", "common passwords"),
    ("!!qwerty123456", "common passwords"), ("AlderPrimary2026!", "school's or the council"),
    ("I love the Shire council!", "school's or the council"),
    ("annie lead 1987 rocks", "your name or email address"),
])
def test_password_rules_each_say_what_is_wrong(bad: str, says: str) -> None:
    with pytest.raises(PasswordRejected, match=says):
        check_policy(bad, "annie.lead@alder.example", ("Alder Primary School",
                                                       "Shire County Council"))


@pytest.mark.parametrize("shared", ["info+dsl@alder.example", "office1@alder.example",
                                    "safe-guarding@alder.example", "admin+2@alder.example"])
def test_shared_mailbox_variants_are_refused(env: Env, shared: str) -> None:
    portal = env.settings.portal
    with ready(portal.database_url, portal.state_dir).begin() as db, \
            pytest.raises(AccountError, match="shared mailbox"):
        accounts.add_user(db, portal, urn=A, name="X", email=shared, role="dsl",
                          origin=COMMAND_LINE)


def test_account_rules(env: Env) -> None:
    portal = env.settings.portal
    with ready(portal.database_url, portal.state_dir).begin() as db:
        for shared in ("office@alder.example", "Info@alder.example", "head@alder.example"):
            with pytest.raises(AccountError, match="shared mailbox"):
                accounts.add_user(db, portal, urn=A, name="X", email=shared, role="dsl",
                                  origin=COMMAND_LINE)
        _, link = accounts.add_user(db, portal, urn=A, name="Pat", email="pat@trust.example",
                                    role="dsl", origin=COMMAND_LINE)
        _, again = accounts.add_user(db, portal, urn=100002, name="Pat",
                                     email="pat@trust.example", role="dsl",
                                     origin=COMMAND_LINE)
        assert link is not None and again is None
        with pytest.raises(AccountError):
            accounts.add_user(db, portal, urn=A, name="Pat", email="pat@trust.example",
                              role="dsl", origin=COMMAND_LINE)
        [(_user, urns)] = accounts.listing(db, 100002)
        assert urns == [A, 100002]


def test_the_users_commands(tmp_path: Path) -> None:
    env = make_env(tmp_path)
    run_env = {**env.environ(), "PATH": "/usr/bin:/bin"}

    def databook(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "databook", *args], env=run_env,
                              capture_output=True, text=True, timeout=120, check=False)

    added = databook("users", "add", "--school", str(A), "--name", "Ann Lead", "--email",
                     "ann.lead@alder.example")
    assert added.returncode == 0, added.stderr
    assert added.stdout.strip().splitlines()[-1].startswith("http://localhost:8000/enrol/")
    shared = databook("users", "add", "--school", str(A), "--name", "Office", "--email",
                      "office@alder.example")
    assert shared.returncode == 1
    assert shared.stderr.count("\n") == 1 and shared.stderr.startswith("databook: error: ")
    assert "ann.lead@alder.example" in databook("users", "list", "--school", str(A)).stdout
    assert databook("users", "reset", "ann.lead@alder.example").returncode == 0
    left = databook("users", "leave", "ann.lead@alder.example", "--reason", "moved on")
    assert left.returncode == 0
    again = databook("users", "leave", "ann.lead@alder.example", "--reason", "x")
    assert again.returncode == 1 and again.stderr.startswith("databook: error: ")
    bad_key = tmp_path / "bad.pem"
    bad_key.write_text("not a key")
    trust = databook("portal", "trust-key", str(bad_key))
    assert trust.returncode == 1 and trust.stderr.count("\n") == 1


@pytest.mark.postgres
def test_postgresql(pg_url: str, tmp_path: Path) -> None:
    """Migrations, sign-in, download and the ledger on the real PostgreSQL server."""
    from tests.support import add_user, sign_in

    env = make_env(tmp_path, DATABOOK_PORTAL_DATABASE_URL=pg_url)
    secret = add_user(env, "ann.lead@alder.example", [A], agreed=True)
    with TestClient(create_app(env.settings), base_url="https://testserver",
                    follow_redirects=False) as c:
        sign_in(c, env, "ann.lead@alder.example", secret)
        got = download(c, A)
        assert got.content == (env.drop / env.run_id / f"{A}.xlsx").read_bytes()
        assert c.get("/schools/100002").status_code == 404
    kinds = [e["kind"] for e in entries(env)]
    assert kinds.count("download") == 1 and "refused" in kinds


def test_a_signed_in_session_adds_a_factor_only_after_the_password_again(
        client: TestClient, env: Env) -> None:
    """Whoever holds a signed-in session (a stolen cookie, an unlocked computer) cannot add
    their own authenticator: the password is asked for first, and the addition is recorded."""
    email = "ann.lead@alder.example"
    secret = add_user(env, email, [A], agreed=True)
    sign_in(client, env, email, secret)
    assert "Confirm your password" in client.get("/enrol/factor").text
    assert client.get("/enrol/totp/setup").status_code == 303  # not without it
    page = client.get(f"/schools/{A}")
    assert client.post("/enrol/totp", data={"code": "123456", "csrf": csrf_of(page.text)}
                       ).status_code == 303
    page = client.get("/enrol/factor")
    wrong = client.post("/enrol/confirm", data={"password": "not the password at all",
                                                "csrf": csrf_of(page.text)})
    assert wrong.status_code == 401
    assert entries(env, "signin_failed")[-1]["reason"] == "password"
    done = client.post("/enrol/confirm", data={"password": PASSWORD,
                                               "csrf": csrf_of(page.text)})
    assert done.status_code == 303 and done.headers["location"] == "/enrol/factor"
    setup = client.get("/enrol/totp/setup")
    found = re.search(r"secret=([A-Z2-7]+)", setup.text)
    assert setup.status_code == 200 and found
    added = client.post("/enrol/totp", data={"code": pyotp.TOTP(found.group(1)).now(),
                                             "csrf": csrf_of(setup.text)})
    assert added.status_code == 303
    assert [e["method"] for e in entries(env, "second_factor_added")][-1] == "totp"
    assert client.get(f"/schools/{A}").status_code == 200  # fully signed in again
