"""A school reports a leaver over real HTTP: the colleague's live session dies and sign-in is
refused at once, the officer confirms (left for good) or reverses (signs in again), all
ledgered; a school's head reports but never downloads; nobody reports another school's user."""

from __future__ import annotations

from datetime import date
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select

from portal.app import create_app
from portal.migrate import ready
from portal.models import User
from tests.support import (
    PASSWORD,
    A,
    B,
    Env,
    add_officer,
    add_user,
    csrf_of,
    entries,
    sign_in,
    user_id,
    user_rows,
)

ANN, DEE, HEAD, BEN = ("ann.lead@alder.example", "dee.deputy@alder.example",
                       "hana.head@alder.example", "ben.lead@birch.example")


def _client(env: Env) -> TestClient:
    return TestClient(create_app(env.settings), base_url="https://testserver",
                      follow_redirects=False)


def _role(env: Env, email: str, role: str) -> None:
    with ready(env.settings.portal.database_url).begin() as db:
        user = db.scalar(select(User).where(User.email == email))
        assert user is not None
        user.role = role


def _report(client: TestClient, target: int, urn: int = A, **form: str) -> Any:
    page = client.get(f"/schools/{urn}/staff")
    return client.post(f"/schools/{urn}/staff/leaver", data={
        "csrf": csrf_of(page.text), "target": str(target), "reason": "left_school",
        "last_day": date.today().isoformat()} | form)


def _state(env: Env, email: str) -> str:
    return next(r[2] for r in user_rows(env) if r[0] == email)


def test_a_leaver_is_suspended_at_once_and_the_officer_confirms_or_reverses(env: Env) -> None:
    ann_secret = add_user(env, ANN, [A])
    dee_secret = add_user(env, DEE, [A])
    _role(env, DEE, "deputy")
    add_user(env, BEN, [B])
    with _client(env) as ann, _client(env) as dee:
        sign_in(ann, env, ANN, ann_secret)
        sign_in(dee, env, DEE, dee_secret)
        assert dee.get(f"/schools/{A}").status_code == 200
        page = ann.get(f"/schools/{A}/staff")
        assert DEE in page.text and BEN not in page.text and ANN not in page.text
        done = _report(ann, user_id(env, DEE))
        assert done.status_code == 200 and "can no longer sign in" in done.text
        assert _state(env, DEE) == "suspended"
        gone = dee.get(f"/schools/{A}")  # the live session died with the report
        assert gone.status_code == 303 and gone.headers["location"] == "/signin"
        again = dee.get("/signin")
        refused = dee.post("/signin", data={"email": DEE, "password": PASSWORD,
                                            "csrf": csrf_of(again.text)})
        assert refused.status_code == 403  # the right password: told why, no session
        assert "Your access is suspended" in refused.text and "__Host-databook=" not in \
            refused.headers.get("set-cookie", "")
        wrong = dee.post("/signin", data={"email": DEE, "password": "not the password",
                                          "csrf": csrf_of(again.text)})
        assert wrong.status_code == 401 and "not right" in wrong.text
        assert "suspended" not in wrong.text
        [reported] = entries(env, "leaver_reported")
        assert (reported["target_email"], reported["urn"], reported["reporter_role"],
                reported["why"], reported["actor_email"]) == (DEE, A, "dsl", "left_school", ANN)

    officer_secret = add_officer(env, "olu@council.example")
    with _client(env) as officer:
        sign_in(officer, env, "olu@council.example", officer_secret, agree=False,
                landing="/council")
        listing = officer.get("/council/leavers")
        assert DEE in listing.text and 'id="reverse-1"' in listing.text
        assert officer.post("/council/leavers/1/reverse",
                            data={"csrf": csrf_of(listing.text)}).status_code == 303
        assert _state(env, DEE) == "active"  # back: signs in again with the same factors
        assert officer.post("/council/leavers/1/confirm",
                            data={"csrf": csrf_of(listing.text)}).status_code == 409
    with _client(env) as dee:
        sign_in(dee, env, DEE, dee_secret)
        assert dee.get(f"/schools/{A}").status_code == 200
    with _client(env) as ann, _client(env) as officer:
        sign_in(ann, env, ANN, ann_secret)
        assert _report(ann, user_id(env, DEE)).status_code == 200
        sign_in(officer, env, "olu@council.example", officer_secret, agree=False,
                landing="/council")
        listing = officer.get("/council/leavers")
        assert officer.post("/council/leavers/2/confirm",
                            data={"csrf": csrf_of(listing.text)}).status_code == 303
    assert (DEE, "deputy", "left", ()) in user_rows(env)
    assert [e["decision"] for e in entries(env, "leaver_decided")] == ["reversed", "confirmed"]
    assert [e["target_email"] for e in entries(env, "user_left")] == [DEE]


def test_a_head_reports_but_never_downloads_and_nobody_reports_another_school(env: Env) -> None:
    head_secret = add_user(env, HEAD, [A])
    _role(env, HEAD, "head")
    add_user(env, ANN, [A])
    ben_secret = add_user(env, BEN, [B])
    with _client(env) as head, _client(env) as ben:
        sign_in(head, env, HEAD, head_secret, landing="/")
        assert head.get("/").headers["location"] == f"/schools/{A}/staff"
        for path in (f"/schools/{A}", f"/schools/{A}/download", f"/schools/{A}/lookup",
                     f"/schools/{A}/concern"):
            assert head.get(path).status_code == 403, path
        sign_in(ben, env, BEN, ben_secret)
        assert ben.get(f"/schools/{A}/staff").status_code == 404
        bad = _report(ben, user_id(env, ANN), urn=B)  # Ann is not at Ben's school
        assert bad.status_code == 400 and "Choose the colleague" in bad.text
        assert _state(env, ANN) == "active"
        done = _report(head, user_id(env, ANN))
        assert done.status_code == 200
    assert _state(env, ANN) == "suspended"
    assert [e["reporter_role"] for e in entries(env, "leaver_reported")] == ["head"]
