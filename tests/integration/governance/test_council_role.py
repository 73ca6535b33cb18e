"""Trying to break least access for the council role: an officer holds no school, and even an
officer given a school row straight in the database gets a recorded 403 on every school page
and download (enumerated from ``app.routes``), never a file. Signing in lands on /council."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from portal import accounts
from portal.accounts import AccountError
from portal.app import create_app
from portal.events import COMMAND_LINE
from portal.migrate import ready
from portal.models import AgreementAcceptance, User, UserSchool
from tests.support import (
    A,
    B,
    Env,
    add_officer,
    add_user,
    app_of,
    clean_env,
    csrf_of,
    download,
    entries,
    fill,
    make_env,
    routes,
    sign_in,
    user_rows,
)
from tests.support import databook as run_databook

OFFICER = "olu.officer@council.example"


@pytest.fixture
def env(tmp_path_factory: pytest.TempPathFactory) -> Env:
    return make_env(tmp_path_factory.mktemp("council-role"))


@pytest.fixture
def client(env: Env) -> Iterator[TestClient]:
    with TestClient(create_app(env.settings), base_url="https://testserver",
                    follow_redirects=False) as c:
        yield c


def give_school_and_agreement(env: Env, email: str, urn: int) -> None:
    """What no command does: a school row (and the DSL agreement) put on an officer's
    account straight in the database."""
    portal = env.settings.portal
    now = datetime.now(UTC)
    with ready(portal.database_url, portal.state_dir).begin() as db:
        user = db.scalar(select(User).where(User.email == email))
        assert user is not None and user.role == "council"
        user.schools.append(UserSchool(urn=urn, added_at=now))
        db.add(AgreementAcceptance(user_id=user.id, version=portal.agreement_version,
                                   text_sha256="x", accepted_at=now))


def school_routes(client: TestClient) -> list[tuple[str, str]]:
    """Every school page and action the app serves, so a route added later is tried too."""
    return [(m, p) for m, p, _r in routes(app_of(client)) if p.startswith("/schools/{urn}")]


def test_an_officer_signs_in_to_the_council_pages(env: Env, client: TestClient) -> None:
    secret = add_officer(env, OFFICER)
    sign_in(client, env, OFFICER, secret, agree=False, landing="/council")
    home = client.get("/")
    assert home.status_code == 303 and home.headers["location"] == "/council"
    assert client.get("/council").status_code == 200


def test_a_dsl_still_lands_home(env: Env, client: TestClient) -> None:
    secret = add_user(env, "sam.dsl@alder.example", [A], agreed=True)
    sign_in(client, env, "sam.dsl@alder.example", secret)
    home = client.get("/")
    assert home.status_code == 303 and home.headers["location"] == f"/schools/{A}"


def test_an_officer_given_a_school_is_refused_every_school_page_and_file(
        env: Env, client: TestClient) -> None:
    secret = add_officer(env, OFFICER)
    give_school_and_agreement(env, OFFICER, A)
    sign_in(client, env, OFFICER, secret, agree=False, landing="/council")
    csrf = csrf_of(client.get("/council").text)
    before = len(entries(env))
    tried = school_routes(client)
    assert {("GET", "/schools/{urn}"), ("GET", "/schools/{urn}/download"),
            ("POST", "/schools/{urn}/download")} <= set(tried)
    for method, path in tried:
        for urn in (A, B):  # the school on the forged row, and another
            url = fill(path, urn)
            if method == "GET":
                got = client.get(url)
            else:
                got = client.post(url, data={"csrf": csrf, "run_id": env.run_id,
                                             "reason": "concern"})
            assert got.status_code == 403, (method, url, got.status_code)
            assert "named safeguarding leads only" in got.text
            assert "content-disposition" not in got.headers
    refused = entries(env, "refused")[-(2 * len(tried)):]
    assert [e["what"] for e in refused] == ["not_school_user"] * 2 * len(tried)
    assert {e["actor_email"] for e in refused} == {OFFICER}
    assert len(entries(env)) == before + 2 * len(tried)  # only the refusals
    assert not entries(env, "download")


def test_the_school_rule_itself_refuses_the_council_role(env: Env, client: TestClient) -> None:
    """The same officer row switched to ``dsl`` downloads: the 403 above is the role rule's,
    not a missing agreement, protocol or file."""
    secret = add_officer(env, OFFICER)
    give_school_and_agreement(env, OFFICER, A)
    with ready(env.settings.portal.database_url, env.settings.portal.state_dir).begin() as db:
        user = db.scalar(select(User).where(User.email == OFFICER))
        assert user is not None
        user.role = "dsl"
    sign_in(client, env, OFFICER, secret, agree=False)
    got = download(client, A)
    assert got.status_code == 200
    assert got.content == (env.drop / env.run_id / f"{A}.xlsx").read_bytes()


def test_accounts_never_give_an_officer_a_school(env: Env) -> None:
    portal = env.settings.portal
    with ready(portal.database_url, portal.state_dir).begin() as db:
        user, link = accounts.add_user(db, portal, urn=None, name="Olu Officer",
                                       email=OFFICER, role="council", origin=COMMAND_LINE)
        assert user.role == "council" and user.schools == [] and link is not None
        attempts = [(A, "council", OFFICER), (None, "council", OFFICER),  # again
                    (A, "dsl", OFFICER),  # a school for the officer under another role
                    (None, "dsl", "sam.dsl@alder.example"),  # a DSL with no school
                    (A, "council", "new.officer@council.example")]
        for urn, role, email in attempts:
            with pytest.raises(AccountError):
                accounts.add_user(db, portal, urn=urn, name="X", email=email, role=role,
                                  origin=COMMAND_LINE)
        accounts.add_user(db, portal, urn=A, name="Sam", email="sam.dsl@alder.example",
                          role="dsl", origin=COMMAND_LINE)
        with pytest.raises(AccountError):  # a DSL is not turned into an officer
            accounts.add_user(db, portal, urn=None, name="Sam", email="sam.dsl@alder.example",
                              role="council", origin=COMMAND_LINE)
    assert [(e, r, s) for e, r, _st, s in user_rows(env)] == [
        (OFFICER, "council", ()), ("sam.dsl@alder.example", "dsl", (A,))]


def test_the_users_add_command_for_the_council_role(env: Env) -> None:
    run_env = {**env.environ(), "PATH": "/usr/bin:/bin"}

    def databook(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "databook", "users", "add", *args],
                              env=run_env, capture_output=True, text=True, timeout=120,
                              check=False)

    refused = [databook("--role", "council", "--school", str(A), "--name", "Olu",
                        "--email", OFFICER),
               databook("--role", "dsl", "--name", "Sam", "--email", "sam@alder.example"),
               databook("--name", "Sam", "--email", "sam@alder.example")]
    for got in refused:
        assert got.returncode == 1, got.stderr
        assert got.stderr.count("\n") == 1 and got.stderr.startswith("databook: error: ")
    assert "holds no school" in refused[0].stderr and "--school" in refused[1].stderr
    assert user_rows(env) == []  # nothing half-made
    added = databook("--role", "council", "--name", "Olu Officer", "--email", OFFICER)
    assert added.returncode == 0, added.stderr
    assert "/enrol/" in added.stdout.strip().splitlines()[-1]
    given = databook("--school", str(A), "--name", "Olu", "--email", OFFICER)
    assert given.returncode == 1 and given.stderr.startswith("databook: error: ")
    assert user_rows(env) == [(OFFICER, "council", "invited", ())]


def test_the_demo_officer_signs_in_to_the_council_pages(env: Env) -> None:
    """``databook portal demo``'s officer: made twice (the second resets it), no school, and
    the printed password and secret sign in to /council."""
    from portal.cli.portal import DEMO_OFFICER, DEMO_PASSWORD
    from portal.demo import make_demo_officer
    from tests import support

    portal = env.settings.portal
    _name, email, secret = DEMO_OFFICER
    first = make_demo_officer(portal, DEMO_OFFICER, DEMO_PASSWORD)
    assert email in first and secret in first and "otpauth://" in first
    with ready(portal.database_url, portal.state_dir).begin() as db:  # a school row slipped onto it
        user = db.scalar(select(User).where(User.email == email))
        assert user is not None
        user.schools.append(UserSchool(urn=A, added_at=datetime.now(UTC)))
    assert make_demo_officer(portal, DEMO_OFFICER, DEMO_PASSWORD) == first
    assert user_rows(env) == [(email, "council", "active", ())]
    with TestClient(create_app(env.settings), base_url="https://testserver",
                    follow_redirects=False) as c, pytest.MonkeyPatch.context() as patch:
        patch.setattr(support, "PASSWORD", DEMO_PASSWORD)
        sign_in(c, env, email, secret, agree=False, landing="/council")
        assert c.get("/council").status_code == 200
        assert c.get(f"/schools/{A}").status_code == 403


def test_portal_demo_refuses_a_home_not_made_by_demo(env: Env) -> None:
    """On a council's own home, ``databook portal demo`` would set the printed demo password
    on users and mark protocols signed: it refuses, and changes nothing."""
    before = user_rows(env)
    done = run_databook("portal", "demo", env=clean_env(**env.environ()))
    assert done.returncode == 1
    assert "was not made by `databook demo`" in done.stderr
    assert done.stderr.startswith("databook: error: ") and len(done.stderr.splitlines()) == 1
    assert user_rows(env) == before


def test_one_school_is_taken_from_a_user_who_moves(env: Env) -> None:
    email = "mo.mover@alder.example"
    secret = add_user(env, email, [A, B], agreed=True)
    with TestClient(create_app(env.settings), base_url="https://testserver",
                    follow_redirects=False) as c:
        sign_in(c, env, email, secret)
        assert c.get(f"/schools/{B}").status_code == 200
        done = run_databook("users", "remove-school", email, "--school", str(B),
                            env=clean_env(**env.environ()))
        assert done.returncode == 0, done.stderr
        assert c.get(f"/schools/{B}").status_code in (403, 404)  # at the next request
        assert c.get(f"/schools/{A}").status_code == 200  # the other school stays
    assert user_rows(env) == [(email, "dsl", "active", (A,))]
    [removed] = [e for e in entries(env, "council_action") if e["action"] == "school_removed"]
    assert (removed["target"], removed["urn"]) == (email, B)
    last = run_databook("users", "remove-school", email, "--school", str(A),
                        env=clean_env(**env.environ()))
    assert last.returncode == 1 and "users leave" in last.stderr
