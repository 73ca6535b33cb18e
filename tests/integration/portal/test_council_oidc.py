"""Council sign-in through a real certified OpenID provider (npm ``oidc-provider``) on
127.0.0.1: a full sign-in makes the officer's account (subject and e-mail only, no token or
code kept); a wrong issuer, a replayed or expired state, a nonce that does not match, a
missing MFA claim and a removed group are each refused with one clear message and a ledger
entry; an officer removed from the group loses access at the next re-check; local council
sign-in can be switched off while schools keep theirs."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from portal.app import create_app
from portal.migrate import ready
from portal.oidc.client import forget_discovery
from portal.oidc.models import CouncilIdentity, OidcPending
from portal.security import sessions
from tests.oidc_provider import GROUP, OFFICER, Provider, provider, through_provider
from tests.support import (
    PASSWORD,
    A,
    Env,
    add_officer,
    add_user,
    csrf_of,
    entries,
    make_env,
    sign_in,
    user_rows,
)

BASE = "https://testserver"
REDIRECT = f"{BASE}/signin/council/callback"


@pytest.fixture(scope="module")
def idp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Provider]:
    with provider(tmp_path_factory.mktemp("idp"), REDIRECT) as made:
        yield made


@pytest.fixture
def env_idp(tmp_path: Path, idp: Provider) -> Env:
    idp.accounts(olu=OFFICER)
    forget_discovery()
    return make_env(tmp_path, **idp.settings(recheck=3))


def _client(env: Env) -> TestClient:
    return TestClient(create_app(env.settings), base_url=BASE, follow_redirects=False)


def _back_from_provider(client: TestClient, login: str = "olu") -> str:
    """Start at the portal, go through the provider; the callback path and query."""
    started = client.get("/signin/council")
    assert started.status_code == 303, started.text
    back = through_provider(requests.Session(), started.headers["location"], login, REDIRECT)
    parts = urlsplit(back)
    return f"{parts.path}?{parts.query}"


def _failures(env: Env) -> list[str]:
    return [e["reason"] for e in entries(env, "signin_failed") if e.get("method") == "oidc"]


def test_a_full_sign_in_makes_the_officer_and_keeps_only_subject_and_email(
        env_idp: Env) -> None:
    with _client(env_idp) as client:
        assert 'id="council-signin"' in client.get("/signin").text
        callback = _back_from_provider(client)
        done = client.get(callback)
        assert done.status_code == 200 and 'url=/council' in done.text
        assert client.get("/council").status_code == 200
        code = callback.split("code=", 1)[1].split("&", 1)[0]
    assert ("olu.officer@council.example", "council", "active", ()) in user_rows(env_idp)
    [ok] = [e for e in entries(env_idp, "signin_ok") if e.get("method") == "oidc"]
    assert ok["actor_email"] == "olu.officer@council.example"
    with ready(env_idp.settings.portal.database_url)() as db:
        [identity] = db.scalars(select(CouncilIdentity))
        assert identity.subject == "olu"
        assert db.scalars(select(OidcPending)).all() == []  # used, and gone
    stored = Path(env_idp.settings.portal.database_url.removeprefix("sqlite:///")).read_bytes()
    assert code.encode() not in stored and GROUP.encode() not in stored
    assert b"eyJ" not in stored  # no JWT (ID, access or refresh token) anywhere


def test_replayed_and_expired_state_and_a_wrong_nonce_are_refused(env_idp: Env) -> None:
    with _client(env_idp) as client:
        callback = _back_from_provider(client)
        assert client.get(callback).status_code == 200
        replayed = client.get(callback)
        assert replayed.status_code == 403 and "already used" in replayed.text
        callback = _back_from_provider(client)
        with ready(env_idp.settings.portal.database_url).begin() as db:
            db.execute(update(OidcPending).values(
                created_at=sessions.now() - timedelta(minutes=11)))
        expired = client.get(callback)
        assert expired.status_code == 403 and "expired" in expired.text
        callback = _back_from_provider(client)
        with ready(env_idp.settings.portal.database_url).begin() as db:
            db.execute(update(OidcPending).values(nonce="not-the-nonce-we-sent"))
        wrong = client.get(callback)
        assert wrong.status_code == 403 and "could not be verified" in wrong.text
        callback = _back_from_provider(client)
        client.cookies.delete("databook_oidc", path="/signin/council")
        other_browser = client.get(callback)  # a callback carried to another browser
        assert other_browser.status_code == 403
    assert _failures(env_idp) == ["oidc_state", "oidc_state", "oidc_token", "oidc_state"]


def test_missing_mfa_and_a_removed_group_create_nothing(env_idp: Env, idp: Provider) -> None:
    before = user_rows(env_idp)
    idp.accounts(olu=OFFICER | {"amr": ["pwd"]}, sam=OFFICER | {
        "email": "sam@council.example", "groups": ["finance"]})
    with _client(env_idp) as client:
        no_mfa = client.get(_back_from_provider(client, "olu"))
        assert no_mfa.status_code == 403 and "multi-factor" in no_mfa.text
    with _client(env_idp) as client:
        not_in_group = client.get(_back_from_provider(client, "sam"))
        assert not_in_group.status_code == 403 and "not in the group" in not_in_group.text
        assert client.get("/council").status_code == 303
    assert user_rows(env_idp) == before
    assert _failures(env_idp) == ["oidc_mfa", "oidc_group"]


def test_an_officer_removed_from_the_group_loses_access_at_the_next_recheck(
        env_idp: Env, idp: Provider) -> None:
    with _client(env_idp) as client:
        assert client.get(_back_from_provider(client)).status_code == 200
        assert client.get("/council").status_code == 200
        idp.accounts(olu=OFFICER | {"groups": []})
        time.sleep(3.2)  # the re-check interval (3 s here; minutes in production)
        sent = client.get("/council")
        assert sent.status_code == 303 and sent.headers["location"] == "/signin/council"
        again = client.get(_back_from_provider(client))
        assert again.status_code == 403 and "not in the group" in again.text
        assert client.get("/council").status_code == 303
    assert _failures(env_idp) == ["oidc_group"]


def test_a_wrong_issuer_is_refused(tmp_path: Path, idp: Provider) -> None:
    forget_discovery()
    impostor = idp.issuer.replace("127.0.0.1", "localhost")
    env = make_env(tmp_path, **idp.settings(issuer=impostor))
    with _client(env) as client:
        got = client.get("/signin/council")
        assert got.status_code == 403 and "did not come from the council" in got.text
    assert _failures(env) == ["oidc_issuer"]
    forget_discovery()


def test_local_council_sign_in_can_be_switched_off_and_schools_keep_theirs(
        tmp_path: Path, idp: Provider) -> None:
    forget_discovery()
    env = make_env(tmp_path, **idp.settings(), DATABOOK_PORTAL_COUNCIL_LOCAL_SIGNIN="false")
    add_officer(env, "local.officer@council.example")
    secret = add_user(env, "ann.lead@alder.example", [A])
    with _client(env) as client:
        page = client.get("/signin")
        refused = client.post("/signin", data={"email": "local.officer@council.example",
                                                "password": PASSWORD,
                                                "csrf": csrf_of(page.text)})
        assert refused.status_code == 403 and "council account" in refused.text
    with _client(env) as school:
        sign_in(school, env, "ann.lead@alder.example", secret)
        assert school.get(f"/schools/{A}").status_code == 200
    assert [e["reason"] for e in entries(env, "signin_failed")] == ["local_signin_off"]
