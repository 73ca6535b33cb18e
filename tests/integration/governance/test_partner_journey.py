"""A partner user's own journey over HTTP: their own agreement (their organisation's cohort,
not "children who attend my school"), their own reasons, their own navigation, a success
banner after a download (never "There is a problem"); the officer's partners page lists the
register, a lapsed agreement and the partner's users, and the users page shows a partner user
with their partner."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from portal.app import create_app
from tests.support import (
    LAPSED,
    NURSES,
    Env,
    add_partner_user,
    csrf_of,
    entries,
    make_env,
    officer_client,
    publish_with_partners,
    register_partners,
    sign_in,
)


@pytest.fixture
def env(tmp_path_factory: pytest.TempPathFactory) -> Env:
    env = make_env(tmp_path_factory.mktemp("partner-journey"))
    register_partners(env)
    return env


@pytest.fixture
def client(env: Env) -> Iterator[TestClient]:
    with TestClient(create_app(env.settings), base_url="https://testserver",
                    follow_redirects=False) as c:
        yield c


def test_a_partner_user_has_their_own_agreement_reasons_navigation_and_success(
        env: Env, client: TestClient) -> None:
    run_id, _files = publish_with_partners(env)
    secret = add_partner_user(env, "nia.nurse@nhs.example", NURSES)
    sign_in(client, env, "nia.nurse@nhs.example", secret, agree=False)
    agreement = client.get("/agreement").text
    assert "partner organisations" in agreement and "attend my school" not in agreement
    page = client.get("/agreement")
    version = re.search(r'name="version" value="([^"]+)"', page.text)
    assert version
    assert client.post("/agreement", data={"accept": "yes", "csrf": csrf_of(page.text),
                                           "version": version.group(1)}).status_code == 303
    home = client.get(f"/partners/{NURSES}").text
    assert "Your organisation" in home and "Your school" not in home
    form = client.get(f"/partners/{NURSES}/download").text
    assert "A pupil joined the school" not in form and 'value="referral"' in form
    assert "organisation's password" in form
    data = {"csrf": csrf_of(form), "run_id": run_id, "reason": "joined"}  # a school's reason
    refused = client.post(f"/partners/{NURSES}/download", data=data)
    assert refused.status_code == 400 and "There is a problem" in refused.text
    got = client.post(f"/partners/{NURSES}/download", data=data | {"reason": "referral"})
    assert got.status_code == 200
    entry = got.headers["x-databook-entry"]
    (download,) = entries(env, "download")
    assert download["reason_code"] == "referral" and download["partner_id"] == NURSES
    after = client.get(f"/partners/{NURSES}", params={"downloaded": entry}).text
    assert 'id="downloaded"' in after and "There is a problem" not in after
    other = client.get(f"/partners/{NURSES}", params={"downloaded": "99999"}).text
    assert 'id="downloaded"' not in other  # only one of their own downloads


def test_the_officers_partners_page_and_partner_users(env: Env, client: TestClient) -> None:
    add_partner_user(env, "nia.nurse@nhs.example", NURSES)
    add_partner_user(env, "yan.yot@yot.example", LAPSED)
    with officer_client(env, "olu.officer@council.example") as officer:
        page = officer.get("/council/partners")
        assert page.status_code == 200
        nurses = re.search(rf'id="partner-{NURSES}">(.*?)</tr>', page.text, re.S)
        lapsed = re.search(rf'id="partner-{LAPSED}">(.*?)</tr>', page.text, re.S)
        assert nurses and lapsed
        assert "nia.nurse@nhs.example" in nurses.group(1) and "cannot download" not in \
            nurses.group(1)
        assert "lapsed" in lapsed.group(1) and "cannot download" in lapsed.group(1)
        assert 'id="lapsed"' in page.text and "Youth Offending Team" in page.text
        users = officer.get("/council/users").text
        row = re.search(r"<tr[^>]*>(?:(?!</tr>).)*nia\.nurse@nhs\.example.*?</tr>", users, re.S)
        assert row and "School Nursing Team" in row.group(0), users[-3000:]
        assert "Schools: none" not in users
