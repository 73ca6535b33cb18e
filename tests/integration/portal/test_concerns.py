"""Reporting a concern over real HTTP (TestClient on the app): recorded in the ledger with the
account kept apart, the council's webhook told at once with no account text, the officer's
status changes ledgered; and the attacks: another school's URL, someone else's download as
"the access", a child's identifiers in the account, no CSRF token, a school user on the
officer's pages."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from portal.app import create_app
from tests.support import (
    A,
    B,
    Env,
    add_officer,
    add_user,
    csrf_of,
    download,
    entries,
    make_env,
    reason_texts,
    sign_in,
)

ANN, BEN, OFFICER = "ann.lead@alder.example", "ben.lead@birch.example", "olu@council.example"


@pytest.fixture
def hooked(tmp_path: Path, webhook: tuple[str, list[dict[str, object]]]) -> Env:
    return make_env(tmp_path, DATABOOK_ALERT_WEBHOOK=webhook[0])


@pytest.fixture
def ann(hooked: Env) -> Iterator[TestClient]:
    secret = add_user(hooked, ANN, [A])
    with TestClient(create_app(hooked.settings), base_url="https://testserver",
                    follow_redirects=False) as client:
        sign_in(client, hooked, ANN, secret)
        yield client


def _report(client: TestClient, **form: str) -> Any:
    urn = A
    page = client.get(f"/schools/{urn}/concern")
    data = {"csrf": csrf_of(page.text) if page.status_code == 200 else "",
            "kind": "misuse", "happened_on": date.today().isoformat(), "access": "",
            "account": "A colleague left the downloaded file open on a shared screen."} | form
    return client.post(f"/schools/{urn}/concern", data=data)


def _wait(received: list[dict[str, object]], count: int) -> list[dict[str, object]]:
    deadline = time.monotonic() + 10
    while len(received) < count and time.monotonic() < deadline:
        time.sleep(0.05)
    return received


def test_a_report_is_ledgered_alerts_the_council_and_the_officer_closes_it(
        hooked: Env, ann: TestClient, webhook: tuple[str, list[dict[str, object]]]) -> None:
    assert download(ann, A).status_code == 200
    [mine] = entries(hooked, "download")
    form = ann.get(f"/schools/{A}/concern")
    assert form.status_code == 200 and f'value="{mine["index"]}"' in form.text
    sent = _report(ann, access=str(mine["index"]))
    assert sent.status_code == 200 and 'id="concern-number">1<' in sent.text
    [entry] = entries(hooked, "concern_reported")
    assert (entry["concern_id"], entry["urn"], entry["what"], entry["access_index"],
            entry["actor_email"]) == (1, A, "misuse", mine["index"], ANN)
    assert "reason_text" not in entry and len(entry["reason_commitment"]) == 64
    assert "shared screen" in " ".join(reason_texts(hooked))
    [alert] = _wait(webhook[1], 1)
    assert "concern 1 reported by school" in str(alert["subject"])
    assert "shared screen" not in str(alert)  # the account never leaves the portal

    secret = add_officer(hooked, OFFICER)
    with TestClient(create_app(hooked.settings), base_url="https://testserver",
                    follow_redirects=False) as officer:
        sign_in(officer, hooked, OFFICER, secret, agree=False, landing="/council")
        listing = officer.get("/council/concerns")
        assert listing.status_code == 200 and "Concern 1" in listing.text
        page = officer.get("/council/concerns/1")
        assert "shared screen" in page.text and "hours left" in page.text
        for status in ("investigating", "closed_referred"):
            done = officer.post("/council/concerns/1/status",
                                data={"csrf": csrf_of(page.text), "status": status})
            assert done.status_code == 303
        bad = officer.post("/council/concerns/1/status",
                           data={"csrf": csrf_of(page.text), "status": "deleted"})
        assert bad.status_code == 400 and "Choose the concern" in bad.text
    changes = entries(hooked, "concern_status")
    assert [(c["old_status"], c["new_status"], c["actor_email"]) for c in changes] == [
        ("new", "investigating", OFFICER), ("investigating", "closed_referred", OFFICER)]


@pytest.mark.parametrize(("field", "value", "message"), [
    ("account", "Pupil A123456789012 was looked up", "seems to hold a UPN"),
    ("account", "It was about the child at DE4 3AG", "seems to hold a postcode"),
    ("account", "NHS 485 777 3456 seen", "NHS number"),
    ("account", "", "Say what happened"),
    ("account", "x" * 1001, "1000 characters"),
    ("happened_on", (date.today() + timedelta(days=2)).isoformat(), "cannot be in the future"),
    ("happened_on", "yesterday", "Give the date"),
    ("kind", "gossip", "Choose what the concern is about"),
    ("access", "999999", "Choose one of your own"),
])
def test_bad_input_is_named_by_its_field_and_nothing_is_recorded(
        hooked: Env, ann: TestClient, field: str, value: str, message: str) -> None:
    got = _report(ann, **{field: value})
    assert got.status_code == 400
    text = got.text
    assert message in text and f'id="{field}-error"' in text
    assert entries(hooked, "concern_reported") == []
    assert [e["what"] for e in entries(hooked, "refused")] == ["bad_input"]


def test_someone_elses_download_another_school_and_no_csrf_are_refused(
        hooked: Env, ann: TestClient) -> None:
    ben_secret = add_user(hooked, BEN, [B])
    with TestClient(create_app(hooked.settings), base_url="https://testserver",
                    follow_redirects=False) as ben:
        sign_in(ben, hooked, BEN, ben_secret)
        assert download(ben, B).status_code == 200
        [bens] = entries(hooked, "download")
        assert ben.get(f"/schools/{A}/concern").status_code == 404  # not his school
        token = csrf_of(ben.get(f"/schools/{B}/concern").text)
        assert ben.post(f"/schools/{A}/concern", data={
            "csrf": token, "kind": "misuse", "happened_on": date.today().isoformat(),
            "account": "x"}).status_code == 404
        assert ben.get("/council/concerns").status_code == 403
    got = _report(ann, access=str(bens["index"]))  # Ben's download is not Ann's to point at
    assert got.status_code == 400 and "Choose one of your own" in got.text
    page = ann.get(f"/schools/{A}/concern")
    assert f'value="{bens["index"]}"' not in page.text
    forged = ann.post(f"/schools/{A}/concern", data={
        "kind": "misuse", "happened_on": date.today().isoformat(), "account": "x"})
    assert forged.status_code == 403
    assert entries(hooked, "concern_reported") == []
    assert re.search(r"Report a suspected breach", ann.get(f"/schools/{A}").text)
