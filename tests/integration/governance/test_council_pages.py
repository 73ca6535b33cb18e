"""A council officer's pages over HTTP: each page and action works, each change is a ledger
entry by the officer, each CSV is the same data and cannot run as a formula, and bad input
gets a clear 4xx page that changes nothing."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from datetime import date

import httpx
import pytest
from fastapi.testclient import TestClient

from portal import accounts
from portal.app import create_app
from portal.events import COMMAND_LINE, record
from portal.migrate import ready
from portal.registers import store
from portal.registers.record import SchoolRecord
from schemas.registers import ESCALATION_COLUMNS
from tests.support import (
    SCHOOLS,
    A,
    B,
    C,
    Env,
    add_user,
    csrf_of,
    csv_lines,
    download,
    entries,
    make_env,
    officer_client,
    publish_with_member,
    reason_texts,
    sign_in,
    user_id,
    user_rows,
)

OFFICER = "olu.officer@council.example"


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def env(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Env:
    """The portal on SQLite, and on the real PostgreSQL (a fresh schema)."""
    extra = ({} if request.param == "sqlite" else
             {"DATABOOK_PORTAL_DATABASE_URL": request.getfixturevalue("pg_url")})
    env = make_env(tmp_path_factory.mktemp("council-pages"), **extra)
    with ready(env.settings.portal.database_url, env.settings.portal.state_dir).begin() as db:
        store.save(db, [SchoolRecord(urn=C, name=SCHOOLS[C],
                                     letters=(date(2026, 9, 1), date(2026, 10, 1)))])
    return env


@pytest.fixture
def client(env: Env) -> Iterator[TestClient]:
    with TestClient(create_app(env.settings), base_url="https://testserver",
                    follow_redirects=False) as c:
        yield c


@pytest.fixture
def officer(env: Env) -> Iterator[TestClient]:
    """A second client, signed in as the council officer (no agreement needed)."""
    with officer_client(env, OFFICER) as c:
        yield c


def post(client: TestClient, url: str, **form: str) -> httpx.Response:
    csrf = csrf_of(client.get("/council/users").text)
    return client.post(url, data={"csrf": csrf, **form})


def row_of(page: str, urn: int) -> str:
    found = re.search(rf'<tr[^>]* id="school-{urn}">(.*?)</tr>', page, re.S)
    assert found, page[-2000:]
    return found.group(1)


def test_schools_page_shows_status_users_last_download_and_non_collection(
        env: Env, client: TestClient, officer: TestClient) -> None:
    secret = add_user(env, "sam.dsl@alder.example", [A], agreed=True)
    sign_in(client, env, "sam.dsl@alder.example", secret)
    assert download(client, A).status_code == 200
    page = officer.get("/council")
    assert page.status_code == 200
    alder, birch, cedar = (row_of(page.text, u) for u in (A, B, C))
    assert "sam.dsl@alder.example (dsl, active)" in alder and "by sam.dsl@alder.example" in alder
    assert ">collected<" in alder and "not collected" in birch and "not collected" in cedar
    assert "signed 1 September 2026, version 1.0" in alder and "cannot download" not in alder
    assert "nobody named" in birch and "never" in birch
    assert "not signed" in cedar and "cannot download" in cedar
    assert re.search(r'id="waiting">2<', page.text)
    # the nav link is shown to the officer, never to a school user
    assert 'id="council-nav"' in page.text
    assert 'id="council-nav"' not in client.get(f"/schools/{A}").text


def test_escalation_page_and_csv(officer: TestClient) -> None:
    page = officer.get("/council/escalation")
    assert page.status_code == 200 and "Needs escalating" in page.text
    assert "requires_escalation" not in page.text  # plain English on the page, codes in the CSV
    got = officer.get("/council/escalation.csv")
    assert got.headers["content-type"].startswith("text/csv")
    assert "attachment" in got.headers["content-disposition"]
    lines = csv_lines(got.text)
    assert lines[0] == list(ESCALATION_COLUMNS)
    assert ["requires_escalation", str(C), SCHOOLS[C], "2026-09-01", "2026-10-01"] == \
        lines[1][:5]
    assert {tuple(x[:2]) for x in lines[1:]} >= {("no_named_dsl", str(A)),
                                                 ("no_named_dsl", str(B))}


def test_downloads_report_filters_and_csv(env: Env, client: TestClient,
                                          officer: TestClient) -> None:
    secret = add_user(env, "-sam@alder.example", [A], agreed=True)
    sign_in(client, env, "-sam@alder.example", secret)
    assert download(client, A, reason="other", reason_text="=HYPERLINK(\"x\")").status_code \
        == 200
    page = officer.get("/council/audit/downloads", params={"school": str(A)})
    assert page.status_code == 200 and "-sam@alder.example" in page.text
    assert "-sam@alder.example" not in officer.get(
        "/council/audit/downloads", params={"school": str(B)}).text
    got = officer.get("/council/audit/downloads.csv", params={"user": "-sam@alder.example",
                                                              "since": "2026-01-01"})
    lines = csv_lines(got.text)
    assert lines[0] == ["index", "time", "user", "urn", "run_id", "reason_code"]
    assert len(lines) == 2 and lines[1][2] == "'-sam@alder.example"  # never a formula
    assert lines[1][3:] == [str(A), env.run_id, "other"]
    # bad filters: a clear 400, recorded, nothing shown
    for params in ({"school": "12ab"}, {"school": "123456789"}, {"since": "21/11/2026"},
                   {"user": "x" * 300}):
        bad = officer.get("/council/audit/downloads", params=params)
        assert bad.status_code == 400, params
        assert "-sam@alder.example" not in bad.text


def test_usage_and_irregular_reports(env: Env, client: TestClient,
                                     officer: TestClient) -> None:
    secret = add_user(env, "sam.dsl@alder.example", [A], agreed=True)
    for _ in range(5):  # five failed sign-ins in a day is irregular
        page = client.get("/signin")
        client.post("/signin", data={"email": "sam.dsl@alder.example", "password": "wrong one",
                                     "csrf": csrf_of(page.text)})
    sign_in(client, env, "sam.dsl@alder.example", secret)
    assert download(client, A).status_code == 200
    usage = csv_lines(officer.get("/council/audit/usage.csv").text)
    assert usage[0][:5] == ["month", "downloads", "schools", "children", "files_not_in_drop"]
    assert usage[0][5:7] == ["lookups", "children_looked_up"]
    assert usage[1][1:5] == ["1", "1", "0", "0"] and usage[1][5:] == ["0", "0", "1"]  # unknown
    assert "Usage by month" in officer.get("/council/audit/usage").text
    page = officer.get("/council/audit/irregular")
    assert page.status_code == 200 and "5 failed sign-ins in one day" in page.text
    lines = csv_lines(officer.get("/council/audit/irregular.csv").text)
    assert lines[0] == ["index", "time", "user", "what"]
    assert ["sam.dsl@alder.example", "5 failed sign-ins in one day"] in [x[2:] for x in lines]


def test_child_look_up_by_pseudonym(env: Env, client: TestClient,
                                    officer: TestClient) -> None:
    child, nobody = "ab" * 32, "cd" * 32
    run_id = publish_with_member(env, child, A)
    secret = add_user(env, "sam.dsl@alder.example", [A], agreed=True)
    sign_in(client, env, "sam.dsl@alder.example", secret)
    assert download(client, A, reason="other", reason_text="@SUM(1)").status_code == 200
    with ready(env.settings.portal.database_url, env.settings.portal.state_dir).begin() as db:
        record(db, "lookup", COMMAND_LINE.as_user(user_id(env, "sam.dsl@alder.example"),
                                                  "sam.dsl@alder.example"),
               urn=A, run_id=run_id, row=child, reason_code="concern",
               reason_text="looked up after a call")
    page = officer.get("/council/audit/child")
    assert "databook audit child UPN_OR_PERSON_ID" in page.text  # the nightly host's job
    csrf = csrf_of(page.text)
    found = officer.post("/council/audit/child", data={"csrf": csrf, "pseudonym": child.upper()})
    assert found.status_code == 200
    assert run_id in found.text and "sam.dsl@alder.example" in found.text
    assert "@SUM(1)" in found.text  # the reason, for the officer answering the request
    assert 'id="lookups"' in found.text and "looked up after a call" in found.text
    lines = csv_lines(officer.post("/council/audit/child.csv",
                                   data={"csrf": csrf, "pseudonym": child}).text)
    assert lines[0][-1] == "reason_text" and lines[1][-1] == "'@SUM(1)"
    assert [line[0] for line in lines[1:]] == ["download", "lookup"]
    assert lines[2][-1] == "looked up after a call"
    none = officer.post("/council/audit/child", data={"csrf": csrf, "pseudonym": nobody})
    assert 'id="no-files"' in none.text and 'id="no-downloads"' in none.text
    assert 'id="no-lookups"' in none.text
    lookups = entries(env, "council_action")
    assert [e["action"] for e in lookups] == ["child_lookup"] * 3
    assert all(child not in str(e) and nobody not in str(e) for e in entries(env)
               if e["kind"] != "lookup")  # a look-up names its row by design; nothing else
    assert lookups[0]["actor_email"] == OFFICER
    # not a pseudonym: a clear 400, not recorded as a look-up
    for bad in ("A1234567890AB", "ab" * 31, "zz" * 32, "ab" * 100):
        got = officer.post("/council/audit/child", data={"csrf": csrf, "pseudonym": bad})
        assert got.status_code == 400, bad
    assert len(entries(env, "council_action")) == 3


def test_add_a_dsl_shows_the_link_once_and_records_it(env: Env, officer: TestClient) -> None:
    got = post(officer, "/council/users/add", school=str(B), name="Bea Lead",
               email="Bea.Lead@birch.example", role="deputy")
    assert got.status_code == 200
    link = re.search(r'id="link">(https://testserver/enrol/[^<]+)<', got.text)
    assert link
    assert user_rows(env)[0] == ("bea.lead@birch.example", "deputy", "invited", (B,))
    listing = officer.get("/council/users")
    assert "bea.lead@birch.example" in listing.text and link.group(1) not in listing.text
    assert "bea.lead" in officer.get("/council/users", params={"school": str(B)}).text
    assert "bea.lead" not in officer.get("/council/users", params={"school": str(A)}).text
    assert officer.get("/council/users", params={"school": "B"}).status_code == 400
    added = entries(env, "user_added")
    assert added[-1]["target_email"] == "bea.lead@birch.example" and added[-1]["urn"] == B
    assert added[-1]["actor_email"] == OFFICER
    again = post(officer, "/council/users/add", school=str(C), name="Bea Lead",
                 email="bea.lead@birch.example")
    assert 'id="no-link"' in again.text and "/enrol/" not in again.text
    assert user_rows(env)[0][3] == (B, C)


def test_a_leaver_with_the_password_rotation_note(env: Env, officer: TestClient) -> None:
    add_user(env, "lee.dsl@alder.example", [A, B], agreed=True)
    sure = post(officer, "/council/users/leave", email="lee.dsl@alder.example",
                reason="left the school", rotate="yes")
    assert sure.status_code == 200 and "Are you sure" in sure.text
    assert "govuk-button--warning" in sure.text and 'name="confirm" value="yes"' in sure.text
    assert user_rows(env)[0][2] == "active" and not entries(env, "user_left")  # not yet
    got = post(officer, "/council/users/leave", email="lee.dsl@alder.example",
               reason="left the school", rotate="yes", confirm="yes")
    text = got.text
    assert got.status_code == 200
    assert f"databook keys rotate --school {A}" in text
    assert f"databook keys rotate --school {B}" in text and "nightly host" in text
    assert [r for r in user_rows(env) if r[0] == "lee.dsl@alder.example"] == [
        ("lee.dsl@alder.example", "dsl", "left", ())]
    left = entries(env, "user_left")[-1]
    assert left["target_email"] == "lee.dsl@alder.example" and left["actor_email"] == OFFICER
    asked = entries(env, "council_action")
    assert [(e["action"], e["urn"]) for e in asked] == [
        ("password_rotation_requested", A), ("password_rotation_requested", B)]
    assert "left the school" in reason_texts(env)  # the reason is kept apart, committed to


def test_reset_shows_a_new_link(env: Env, officer: TestClient) -> None:
    add_user(env, "ray.dsl@alder.example", [A], agreed=True)
    got = post(officer, "/council/users/reset", email="ray.dsl@alder.example")
    assert got.status_code == 200
    assert re.search(r'id="link">https://testserver/enrol/', got.text)
    assert entries(env, "user_reset")[-1]["actor_email"] == OFFICER


BAD_INPUT: list[tuple[str, dict[str, str], str]] = [
    ("/council/users/leave", {"email": "nobody@alder.example", "reason": "x"},
     "no portal user with that email"),
    ("/council/users/reset", {"email": "nobody@alder.example"}, "no portal user"),
    ("/council/users/leave", {"email": "not an email", "reason": "x"}, "not valid"),
    ("/council/users/add", {"school": "abc", "name": "A", "email": "a.b@alder.example"},
     "A URN is a whole number"),
    ("/council/users/add", {"school": "123456789", "name": "A", "email": "a.b@alder.example"},
     "A URN is a whole number"),
    ("/council/users/add", {"school": "0", "name": "A", "email": "a.b@alder.example"},
     "A URN is a whole number"),
    ("/council/users/add", {"school": str(A), "name": "N" * 201, "email": "a.b@alder.example"},
     "1 to 200 characters"),
    ("/council/users/add", {"school": str(A), "name": "N" * 5000,
                            "email": "a.b@alder.example"}, "1 to 200 characters"),
    ("/council/users/add", {"school": str(A), "name": "A", "email": "a" * 300 + "@x.example"},
     "not valid"),
    ("/council/audit/child", {"pseudonym": "ab" * 2000}, "A pseudonym is 64 characters"),
    ("/council/users/add", {"school": str(A), "name": "A", "email": "info@alder.example"},
     "shared mailbox"),
    ("/council/users/add", {"school": str(A), "name": "A", "email": "a.b@alder.example",
                            "role": "council"}, "DSL or deputy"),
    ("/council/users/leave", {"email": "sam.dsl@alder.example", "reason": "r" * 501},
     "500 characters"),
    ("/council/users/leave", {"email": OFFICER, "reason": "x"}, "not from these pages"),
    ("/council/users/reset", {"email": OFFICER}, "not from these pages"),
]


def test_every_blank_field_of_a_form_gets_its_error_at_once(officer: TestClient) -> None:
    got = post(officer, "/council/users/add", school="", name="", email="")
    assert got.status_code == 400
    start = got.text.index("govuk-error-summary")
    summary = html.unescape(got.text[start:got.text.index("</ul>", start)])
    for says in ("Enter the school's URN", "Enter the person's name",
                 "Enter the person's own work email address"):
        assert says in summary, says
    for field in ("add-school", "add-name", "add-email"):
        assert f'id="{field}-error"' in got.text, field
    left = post(officer, "/council/users/leave", email="", reason="")
    assert left.status_code == 400
    assert 'id="leave-email-error"' in left.text and 'id="leave-reason-error"' in left.text


def test_bad_input_gets_a_clear_4xx_and_changes_nothing(env: Env, officer: TestClient) -> None:
    add_user(env, "sam.dsl@alder.example", [A], agreed=True)
    for url, form, says in BAD_INPUT:
        before, count = user_rows(env), len(entries(env))
        got = post(officer, url, **form)
        assert got.status_code == 400, (url, form, got.text[-500:])
        assert says in got.text, (url, says)
        assert user_rows(env) == before
        after = entries(env)[count:]
        # recorded, as a form error: an officer's own typo, not irregular access
        assert [(e["kind"], e["what"]) for e in after] in ([("refused", "form_error")],
                                                           [("refused", "bad_input")]), url


def test_a_council_post_without_the_csrf_token_changes_nothing(env: Env,
                                                               officer: TestClient) -> None:
    before = user_rows(env)
    got = officer.post("/council/users/add", data={"school": str(A), "name": "A",
                                                   "email": "a.b@alder.example"})
    assert got.status_code == 403 and user_rows(env) == before


def test_a_report_page_shows_the_newest_rows_first_and_says_how_many_in_all() -> None:
    from portal.routers.council_reports import PAGE_ROWS, newest

    rows = [{"index": i} for i in range(PAGE_ROWS + 7)]
    shown = newest(rows)
    assert shown["total"] == PAGE_ROWS + 7 and len(shown["rows"]) == PAGE_ROWS
    assert shown["rows"][0] == {"index": PAGE_ROWS + 6} and shown["rows"][-1] == {"index": 7}


def test_reports_refuse_a_drop_whose_manifest_does_not_verify(env: Env,
                                                              officer: TestClient) -> None:
    manifest = env.drop / env.run_id / "manifest.json"
    manifest.write_bytes(manifest.read_bytes().replace(b'"as_at"', b'"as_at" ', 1))
    for url in ("/council/audit/usage", "/council/audit/irregular.csv"):
        got = officer.get(url)
        assert got.status_code == 503 and "cannot be made" in got.text, url
    page = officer.get("/council")
    assert page.status_code == 200 and 'id="no-run"' in page.text
    assert [e["what"] for e in entries(env, "refused")] == ["manifest_unverified"] * 2


def test_a_bad_form_comes_back_with_its_values_the_navigation_and_the_error_by_its_field(
        env: Env, officer: TestClient) -> None:
    """No "Not available" page for a form error; the same page, status 400."""
    before = user_rows(env)
    got = post(officer, "/council/users/add", school="12x", name="Ada Lead",
               email="ada.lead@alder.example")
    assert got.status_code == 400 and "Not available" not in got.text
    assert 'aria-label="Menu"' in got.text and 'id="council-nav"' in got.text
    assert 'value="Ada Lead"' in got.text and 'value="ada.lead@alder.example"' in got.text
    field = re.search(r'<input [^>]*id="add-school"[^>]*>', got.text)
    assert field and 'aria-describedby="add-school-error"' in field.group(0)
    assert 'value="12x"' in field.group(0)
    assert re.search(r'id="add-school-error"[^>]*>.*A URN is a whole number', got.text)
    assert '<a href="#add-school">A URN is a whole number' in got.text  # the error summary
    assert user_rows(env) == before
    got = officer.get("/council/audit/downloads", params={"since": "yesterday", "user": "x@y"})
    assert got.status_code == 400 and 'value="yesterday"' in got.text
    assert '<a href="#since">' in got.text and "None" not in got.text


def test_escalation_counts_the_latest_runs_schools_with_nobody_named(
        env: Env, officer: TestClient) -> None:
    """A school in the latest run with nobody named needs action, on the register
    or not, as the schools page says "nobody named"."""
    from sqlalchemy import delete

    from portal.registers.models import SchoolRegister

    add_user(env, "sam.dsl@alder.example", [A], agreed=True)
    with ready(env.settings.portal.database_url, env.settings.portal.state_dir).begin() as db:
        db.execute(delete(SchoolRegister).where(SchoolRegister.urn == B))
    schools = officer.get("/council").text
    assert "nobody named" in row_of(schools, B) and "nobody named" not in row_of(schools, A)
    assert re.search(r'<strong id="nobody">2</strong>', schools)  # B (run only), C (register)
    lines = [ln for ln in csv_lines(officer.get("/council/escalation.csv").text)
             if ln[0] == "no_named_dsl"]
    assert [(ln[1], ln[2]) for ln in lines] == [(str(B), SCHOOLS[B]), (str(C), SCHOOLS[C])]
    assert lines[0][7].endswith("in the latest run but not on the register")
    page = officer.get("/council/escalation").text
    assert "No school needs escalation" not in page and SCHOOLS[B] in page


def test_direction_characters_in_a_name_are_shown_not_obeyed(env: Env, officer: TestClient
                                                            ) -> None:
    """A name typed with a right-to-left override would reverse everything after it on the
    officer's page: it is shown as <U+202E> instead."""
    with ready(env.settings.portal.database_url, env.settings.portal.state_dir).begin() as db:
        _, _ = accounts.add_user(db, env.settings.portal, urn=B, name="Eve \u202eredaeL",
                                 email="eve.trick@birch.example", role="dsl",
                                 origin=COMMAND_LINE)
    page = officer.get("/council/users").text
    assert "eve.trick@birch.example" in page
    assert "\u202e" not in page and "Eve &lt;U+202E&gt;redaeL" in page
