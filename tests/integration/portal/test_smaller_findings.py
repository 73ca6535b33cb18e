"""each attack over HTTP against the real app, on SQLite and on the real
PostgreSQL: a URN too big for the database, a password reset nobody recorded, "the council
has been told" with no channel, control and bidi characters in a reason, a redirect built
from the Host header, a leaver's link recorded as unknown, one changed file blocking every
school."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient

from databook.tables import print_rows
from portal import accounts
from portal.app import create_app
from portal.events import COMMAND_LINE, record
from portal.migrate import ready
from tests.support import (
    A,
    B,
    Env,
    add_user,
    csrf_of,
    download,
    entries,
    make_env,
    officer_client,
    publish_with_member,
    sign_in,
)

GOOD = "heron meadow copper 1987"


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def env(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Env:
    extra = ({} if request.param == "sqlite" else
             {"DATABOOK_PORTAL_DATABASE_URL": request.getfixturevalue("pg_url")})
    env = make_env(tmp_path_factory.mktemp("smaller"), **extra)
    ready(env.settings.portal.database_url, env.settings.portal.state_dir)
    return env


def new_client(env: Env) -> TestClient:
    return TestClient(create_app(env.settings), base_url="https://testserver",
                      follow_redirects=False, raise_server_exceptions=False)


@pytest.fixture
def client(env: Env) -> Iterator[TestClient]:
    with new_client(env) as c:
        yield c


def test_a_huge_urn_is_a_recorded_400_with_the_security_headers(env: Env,
                                                                 client: TestClient) -> None:
    secret = add_user(env, "ann.lead@alder.example", [A], agreed=True)
    sign_in(client, env, "ann.lead@alder.example", secret)
    for urn in (2**31, 2**63, 2**64 + 7):
        for path in (f"/schools/{urn}", f"/schools/{urn}/download",
                     f"/schools/{urn}/receipts/1"):
            got = client.get(path)
            assert got.status_code == 400, (path, got.status_code)
            assert "default-src 'none'" in got.headers["content-security-policy"]
    refused = entries(env, "refused")
    assert len(refused) == 9 and {(e["what"], e["status"]) for e in refused} == {
        ("bad_input", 400)}


def test_completing_a_password_reset_is_recorded(env: Env, client: TestClient) -> None:
    add_user(env, "ann.lead@alder.example", [A], agreed=True)
    portal = env.settings.portal
    with ready(portal.database_url, portal.state_dir).begin() as db:
        link = accounts.reset(db, "ann.lead@alder.example", portal, COMMAND_LINE)
    path = "/" + link.url.split("/", 3)[3]
    token = csrf_of(client.get(path).text)
    done = client.post(path, data={"password": GOOD, "confirm": GOOD, "csrf": token})
    assert done.status_code == 303
    [entry] = entries(env, "password_set")
    assert entry["purpose"] == "reset" and entry["actor_email"] == "ann.lead@alder.example"


def test_no_channel_no_claim_that_the_council_was_told(env: Env, client: TestClient) -> None:
    secret = add_user(env, "ann.lead@alder.example", [A], agreed=True)
    sign_in(client, env, "ann.lead@alder.example", secret)
    path = env.drop / env.run_id / f"{A}.xlsx"
    path.write_bytes(path.read_bytes()[:-1] + b"\0")
    got = download(client, A)
    assert got.status_code == 503
    assert "has been told" not in got.text and "ring the council" in got.text
    page = client.get(f"/schools/{A}")
    assert "has been told" not in page.text and "ring the council" in page.text


def test_one_changed_file_blocks_only_its_own_school(env: Env, client: TestClient) -> None:
    ann = add_user(env, "ann.lead@alder.example", [A], agreed=True)
    bea = add_user(env, "bea.lead@birch.example", [B], agreed=True)
    sign_in(client, env, "ann.lead@alder.example", ann)
    path = env.drop / env.run_id / f"{A}.xlsx"
    path.write_bytes(path.read_bytes()[:-1] + b"\0")
    assert download(client, A).status_code == 503
    assert client.get(f"/schools/{A}/download").status_code == 503
    with new_client(env) as other:
        sign_in(other, env, "bea.lead@birch.example", bea)
        got = download(other, B)
        assert got.status_code == 200
        assert got.content == (env.drop / env.run_id / f"{B}.xlsx").read_bytes()


def test_control_and_bidi_characters_in_a_reason(env: Env, client: TestClient,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    child = "ab" * 32
    publish_with_member(env, child, A)
    secret = add_user(env, "sam.dsl@alder.example", [A], agreed=True)
    sign_in(client, env, "sam.dsl@alder.example", secret)
    for text in ("look \x1b[2J here", "abc \u202e fdp.exe", "nul \x00 byte"):
        got = download(client, A, reason="other", reason_text=text)
        assert got.status_code == 400 and "ordinary characters" in got.text
    assert entries(env, "download") == []
    # Text from before this rule (or written by any other way) is shown, never obeyed.
    with ready(env.settings.portal.database_url, env.settings.portal.state_dir).begin() as db:
        run = re.search(r'name="run_id" value="([^"]+)"',
                        client.get(f"/schools/{A}/download").text)
        assert run
        record(db, "download", COMMAND_LINE.as_user(1, "sam.dsl@alder.example"), urn=A,
               run_id=run.group(1), file_sha256="ab" * 32, as_at="2026-11-22",
               reason_code="other", reason_text="x\x1b[2J\u202eevil")
    with officer_client(env, "olu.officer@council.example") as officer:
        page = officer.get("/council/audit/child")
        found = officer.post("/council/audit/child", data={"csrf": csrf_of(page.text),
                                                           "pseudonym": child})
    assert found.status_code == 200
    assert "\u202e" not in found.text and "\x1b" not in found.text
    assert "x&lt;U+001B&gt;[2J&lt;U+202E&gt;evil" in found.text
    print_rows([{"reason_text": "x\x1b[2J\u202eevil", "at": datetime.now(UTC).year}])
    out = capsys.readouterr().out
    assert "\x1b" not in out and "\u202e" not in out and "x<U+001B>[2J<U+202E>evil" in out


def test_the_trailing_slash_redirect_stays_on_the_portal(client: TestClient) -> None:
    got = client.get("/signin/?next=1", headers={"Host": "evil.example"})
    assert got.status_code == 307
    assert got.headers["location"] == "https://testserver/signin?next=1"
    deep = client.get("/schools/100001//", headers={"Host": "evil.example"})
    assert deep.headers["location"] == "https://testserver/schools/100001"
    assert client.get("/no-such-page/").status_code == 404


def test_a_leavers_link_is_recorded_as_left(env: Env, client: TestClient) -> None:
    portal = env.settings.portal
    with ready(portal.database_url, portal.state_dir).begin() as db:
        _, link = accounts.add_user(db, portal, urn=A, name="Lee", email="lee@alder.example",
                                    role="dsl", origin=COMMAND_LINE)
        assert link is not None
        accounts.leave(db, "lee@alder.example", "left in July", COMMAND_LINE)
    got = client.get("/" + link.url.split("/", 3)[3])
    assert got.status_code == 410
    assert [e["reason"] for e in entries(env, "enrolment_failed")] == ["left"]
