"""A DSL at a school with no signed protocol is told so on the school's page, with whom to
call (the council's contact settings), and is not offered a download or a look-up: never a
reason asked for and then a refusal recorded against them."""

from __future__ import annotations

import re
from pathlib import Path

from fastapi.testclient import TestClient

from portal.app import create_app
from portal.migrate import ready
from portal.registers import store
from portal.registers.record import SchoolRecord
from tests.support import SCHOOLS, A, add_user, entries, make_env, sign_in


def test_no_protocol_no_download_offered_and_whom_to_call(tmp_path: Path) -> None:
    env = make_env(tmp_path, DATABOOK_PORTAL_CONTACT_NAME="the Service Desk",
                   DATABOOK_PORTAL_CONTACT_PHONE="01629 537777",
                   DATABOOK_PORTAL_CONTACT_EMAIL="servicedesk@council.example")
    with ready(env.settings.portal.database_url).begin() as db:
        store.save(db, [SchoolRecord(urn=A, name=SCHOOLS[A])])  # the protocol not signed
    secret = add_user(env, "sam.dsl@alder.example", [A], agreed=True)
    with TestClient(create_app(env.settings), base_url="https://testserver",
                    follow_redirects=False) as client:
        sign_in(client, env, "sam.dsl@alder.example", secret)
        page = client.get(f"/schools/{A}").text
    assert 'id="blocked"' in page and "has not signed the current access protocol" in page
    assert 'id="download"' not in page and 'id="lookup-link"' not in page
    assert "the Service Desk" in page and 'href="tel:01629537777"' in page
    assert "mailto:servicedesk@council.example" in page
    assert not [e for e in entries(env, "refused") if e.get("urn") == A]


def test_stay_signed_in_and_the_signed_out_page(tmp_path: Path) -> None:
    env = make_env(tmp_path)
    secret = add_user(env, "sam.dsl@alder.example", [A], agreed=True)
    with TestClient(create_app(env.settings), base_url="https://testserver",
                    follow_redirects=False) as client:
        out = client.get("/signed-out")
        assert out.status_code == 200 and "You have been signed out" in out.text
        assert "15 minutes" in out.text and 'id="timeout-warning"' not in out.text
        token = re.search(r'name="csrf-token" content="([^"]+)"', out.text)
        assert token
        refused = client.post("/session/extend", headers={"X-CSRF-Token": token.group(1)})
        assert refused.status_code in (303, 401, 403)  # nobody signed in: nothing to extend
        sign_in(client, env, "sam.dsl@alder.example", secret)
        page = client.get(f"/schools/{A}").text
        assert 'id="timeout-warning"' in page and 'data-idle="900"' in page
        csrf = re.search(r'name="csrf-token" content="([^"]+)"', page)
        assert csrf
        assert client.post("/session/extend").status_code == 403  # CSRF as every POST
        kept = client.post("/session/extend", headers={"X-CSRF-Token": csrf.group(1)})
        assert kept.status_code == 200 and kept.json() == {"ok": True}
