"""Trying to break the partner rules over HTTP: a partner's user reaches only their
own partner's page and file, never a school's page or a council page; a school's user and a
council officer never reach a partner's; a lapsed agreement stops the download at that
moment; every download is a ledger entry naming the partner; and every route of the app is
classified (public/school, council-only, or partner)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from portal.app import create_app
from portal.migrate import ready
from tests.support import (
    COUNCIL_PREFIX,
    LAPSED,
    MEMBER,
    NURSES,
    PARTNER_PREFIX,
    PARTNER_ROUTES,
    PUBLIC_OR_SCHOOL,
    SCHOOLS,
    A,
    B,
    Env,
    add_partner_user,
    add_user,
    app_of,
    council_routes,
    csrf_of,
    entries,
    fill,
    fill_partner,
    make_env,
    officer_client,
    publish_with_partners,
    register_partners,
    route_problems,
    routes,
    sign_in,
    user_rows,
)


@pytest.fixture
def env(tmp_path_factory: pytest.TempPathFactory) -> Env:
    env = make_env(tmp_path_factory.mktemp("partner-access"))
    register_partners(env)
    return env


@pytest.fixture
def client(env: Env) -> Iterator[TestClient]:
    with TestClient(create_app(env.settings), base_url="https://testserver",
                    follow_redirects=False) as c:
        yield c


def partner_client(client: TestClient, env: Env, email: str, partner_id: str) -> None:
    secret = add_partner_user(env, email, partner_id)
    sign_in(client, env, email, secret)


def school_routes(app: object) -> list[tuple[str, str]]:
    return [(m, p) for m, p, _ in routes(app)  # type: ignore[arg-type]
            if p.startswith("/schools/")]


def partner_routes(app: object) -> list[tuple[str, str]]:
    return [(m, p) for m, p, _ in routes(app)  # type: ignore[arg-type]
            if p.startswith(PARTNER_PREFIX)]


def test_every_route_is_classified_and_an_unchecked_partner_route_is_caught(
        env: Env, client: TestClient) -> None:
    app = app_of(client)
    assert set(partner_routes(app)) == PARTNER_ROUTES
    assert route_problems(app) == []
    assert not PARTNER_ROUTES & PUBLIC_OR_SCHOOL
    leaky = create_app(env.settings)

    @leaky.get("/partners/{partner_id}/leak")
    def leak(partner_id: str) -> str:
        return "everything"

    assert route_problems(leaky) == ["GET /partners/{partner_id}/leak is not on the partner "
                                     "allow-list"]


def test_a_partner_user_downloads_their_file_and_the_ledger_names_the_partner(
        env: Env, client: TestClient) -> None:
    run_id, files = publish_with_partners(env)
    partner_client(client, env, "nia.nurse@nhs.example", NURSES)
    home = client.get("/")
    assert home.status_code == 303 and home.headers["location"] == f"/partners/{NURSES}"
    page = client.get(f"/partners/{NURSES}")
    assert page.status_code == 200 and 'id="children">2<' in page.text
    assert not any(name in page.text for name in SCHOOLS.values())
    form = client.get(f"/partners/{NURSES}/download")
    assert form.status_code == 200
    data = {"csrf": csrf_of(form.text), "run_id": run_id, "reason": "concern"}
    bad = client.post(f"/partners/{NURSES}/download", data=data | {"reason": "nosuch"})
    assert bad.status_code == 400 and "Choose why you are downloading" in bad.text
    got = client.post(f"/partners/{NURSES}/download", data=data)
    assert got.status_code == 200, got.text
    assert got.content == files[f"partner-{NURSES}.xlsx"]
    (entry,) = entries(env, "download")
    assert entry["partner_id"] == NURSES and "urn" not in entry and entry["run_id"] == run_id
    assert entry["actor_email"] == "nia.nurse@nhs.example"
    with ready(env.settings.portal.database_url)() as db:  # the audit reports
        from databook.ledger import reports

        document = json.loads((env.drop / run_id / "manifest.json").read_text())
        (row,) = reports.downloads(db, partner=NURSES)
        assert row["partner_id"] == NURSES and row["urn"] is None
        assert reports.downloads(db, urn=A) == []
        (month,) = reports.usage(db, {run_id: document}, {})
        assert month["downloads"] == 1 and month[f"partner:{NURSES}"] == 1
        assert month["children"] == 1 and month["schools"] == 0
        held, hits = reports.child(db, MEMBER, {run_id: document})
        assert [f.get("partner_id") for f in held] == [NURSES]
        assert [h["partner_id"] for h in hits] == [NURSES]
    stale = client.post(f"/partners/{NURSES}/download", data=data | {"run_id": "x" * 20})
    assert stale.status_code == 404
    history = client.get(f"/partners/{NURSES}").text
    assert history.count('<tr class="govuk-table__row"><td') == 1  # own history


def test_a_partner_user_never_reaches_a_school_a_council_page_or_another_partner(
        env: Env, client: TestClient) -> None:
    publish_with_partners(env)
    partner_client(client, env, "nia.nurse@nhs.example", NURSES)
    csrf = csrf_of(client.get(f"/partners/{NURSES}").text)
    before, users = len(entries(env)), user_rows(env)
    app = app_of(client)
    tried = 0
    for method, path in school_routes(app):
        for urn in SCHOOLS:  # the partner's own schools too: a partner is not their DSL
            url = fill(path, urn)
            got = (client.get(url) if method == "GET" else
                   client.post(url, data={"csrf": csrf, "run_id": "r", "reason": "concern"}))
            assert got.status_code == 403, (method, url, got.status_code)
            assert not any(name in got.text for name in SCHOOLS.values())
            tried += 1
    for method, path in council_routes(app):
        url = fill(path, A)
        got = client.get(url) if method == "GET" else client.post(url, data={"csrf": csrf})
        assert got.status_code == 403, (method, url)
        tried += 1
    for method, path in partner_routes(app):
        for other in (LAPSED, "nobody", f"{NURSES}%2F..%2F{LAPSED}", NURSES.upper()):
            url = fill_partner(path, other)
            got = (client.get(url) if method == "GET" else
                   client.post(url, data={"csrf": csrf, "run_id": "r", "reason": "concern"}))
            assert got.status_code == 404, (method, url, got.status_code)
            assert "Youth" not in got.text
    refused = entries(env, "refused")
    whats = {e["what"] for e in refused}
    assert whats == {"not_school_user", "not_council", "other_partner", "not_found"}
    assert sum(1 for e in refused if e["what"] in ("not_school_user", "not_council")) == tried
    assert not entries(env, "download") and user_rows(env) == users
    assert len(entries(env)) > before


def test_school_users_and_officers_never_reach_a_partner(env: Env, client: TestClient) -> None:
    publish_with_partners(env)
    secret = add_user(env, "sam.dsl@alder.example", [A, B], agreed=True)
    sign_in(client, env, "sam.dsl@alder.example", secret)
    csrf = csrf_of(client.get(f"/schools/{A}").text)
    for method, path in partner_routes(app_of(client)):
        url = fill_partner(path, NURSES)
        got = (client.get(url) if method == "GET" else
               client.post(url, data={"csrf": csrf, "run_id": "r", "reason": "concern"}))
        assert got.status_code == 403 and "Nursing" not in got.text, (method, url)
    assert {e["what"] for e in entries(env, "refused")} == {"not_partner_user"}
    assert {e.get("partner_id") for e in entries(env, "refused")} == {NURSES}
    with officer_client(env, "olu.officer@council.example") as officer:
        for method, path in partner_routes(app_of(officer)):
            url = fill_partner(path, NURSES)
            got = officer.get(url) if method == "GET" else officer.post(url, data={})
            assert got.status_code in (403, 400) if method == "POST" else got.status_code == 403
    assert not entries(env, "download")


def test_a_lapsed_agreement_stops_the_download_at_that_moment(env: Env,
                                                              client: TestClient) -> None:
    run_id, _ = publish_with_partners(env)
    partner_client(client, env, "yara.yot@justice.example", LAPSED)
    form = client.get(f"/partners/{LAPSED}/download")
    assert form.status_code == 200  # the file is still in latest; the rule is at download
    got = client.post(f"/partners/{LAPSED}/download",
                      data={"csrf": csrf_of(form.text), "run_id": run_id, "reason": "concern"})
    assert got.status_code == 403 and "not current" in got.text
    assert [e["what"] for e in entries(env, "refused")] == ["partner_agreement_lapsed"]
    assert not entries(env, "download")


def test_users_add_partner_needs_a_registered_partner_and_no_school(env: Env) -> None:
    from portal.accounts import AccountError
    from portal.accounts import add_user as add_school_user
    from portal.events import COMMAND_LINE
    from portal.partner_accounts import add_partner_user as add

    portal = env.settings.portal
    with ready(portal.database_url, portal.state_dir).begin() as db:
        user, link = add(db, portal, partner_id=NURSES, name="Nia Nurse",
                         email="nia.nurse@nhs.example", origin=COMMAND_LINE)
        assert user.role == "partner" and user.schools == [] and link is not None
    for partner, email, why in ((NURSES, "nia.nurse@nhs.example", "already has an account"),
                                ("nobody", "new@nhs.example", "not on the register"),
                                (NURSES, "info@nhs.example", "shared mailbox")):
        with pytest.raises(AccountError, match=why), ready(portal.database_url).begin() as db:
            add(db, portal, partner_id=partner, name="X", email=email, origin=COMMAND_LINE)
    with pytest.raises(AccountError, match="partner's user"), \
            ready(portal.database_url, portal.state_dir).begin() as db:
        add_school_user(db, portal, urn=A, name="Nia", email="nia.nurse@nhs.example",
                        role="dsl", origin=COMMAND_LINE)
    (added,) = [e for e in entries(env, "user_added") if e.get("partner_id")]
    assert added["partner_id"] == NURSES and added["role"] == "partner"
    assert re.fullmatch(r"[a-z0-9.]+@nhs\.example", added["target_email"])


def test_the_council_prefix_and_partner_prefix_do_not_overlap() -> None:
    assert not PARTNER_PREFIX.startswith(COUNCIL_PREFIX)


def test_a_partner_id_nobody_registered_never_reaches_the_ledger(
        env: Env, client: TestClient) -> None:
    """A partner id in a URL is the visitor's text: one the register could not hold (a child's
    name, markup) is a 400 before any route runs, and its refusal records the route, not it."""
    publish_with_partners(env)
    partner_client(client, env, "nia.nurse@nhs.example", NURSES)
    for made_up in ("Jane%20Smith%2C%2012%20High%20St", "%3Cscript%3E", "a" * 60):
        got = client.get(f"/partners/{made_up}")
        assert got.status_code == 400, made_up
    refused = [e for e in entries(env, "refused") if e.get("what") == "bad_input"]
    assert len(refused) == 3
    text = json.dumps(refused)
    assert "Jane" not in text and "script" not in text and "a" * 60 not in text
    assert all("partner_id" not in e for e in refused)
