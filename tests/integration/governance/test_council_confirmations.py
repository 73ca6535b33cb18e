"""The council's DSL confirmation page: who is unconfirmed, start a round, record a school's
confirmation (ledger entries by the officer); bad forms change nothing. A school user's 403
on these routes is tried by ``test_council_access`` (it enumerates every council route)."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from fastapi.testclient import TestClient

from portal.migrate import ready
from portal.registers import store
from tests.support import A, B, Env, add_user, csrf_of, entries, make_env, officer_client, user_id

OFFICER = "olu.officer@council.example"
ANN, BEN = "ann.lead@alder.example", "ben.lead@birch.example"


@pytest.fixture
def env(tmp_path_factory: pytest.TempPathFactory) -> Env:
    env = make_env(tmp_path_factory.mktemp("council-confirm"))
    add_user(env, ANN, [A], agreed=True)
    add_user(env, BEN, [B], agreed=True)
    return env


@pytest.fixture
def officer(env: Env) -> Iterator[TestClient]:
    with officer_client(env, OFFICER) as c:
        yield c


def post(client: TestClient, url: str, **form: str) -> httpx.Response:
    csrf = csrf_of(client.get("/council/confirmations").text)
    return client.post(url, data={"csrf": csrf, **form})


def dates(env: Env, email: str, urn: int) -> tuple[object, object]:
    with ready(env.settings.portal.database_url, env.settings.portal.state_dir)() as db:
        return store.confirmation_dates(db, user_id(env, email), urn)


def test_a_round_then_a_confirmation(env: Env, officer: TestClient) -> None:
    first = officer.get("/council/confirmations")
    assert first.status_code == 200
    assert 'id="unconfirmed">0<' in first.text and "not requested" in first.text
    started = post(officer, "/council/confirmations/round")
    assert started.status_code == 200 and "Asked for 2 DSLs" in started.text
    listed = officer.get("/council/confirmations")
    assert 'id="unconfirmed">2<' in listed.text and ANN in listed.text and BEN in listed.text
    only_b = officer.get("/council/confirmations", params={"school": str(B)})
    assert BEN in only_b.text and ANN not in only_b.text
    done = post(officer, "/council/confirmations/confirm", school=str(A), email=ANN.upper(),
                by="Headteacher")
    assert done.status_code == 200 and f"school {A} confirmed" in done.text
    requested, confirmed = dates(env, ANN, A)
    assert requested is not None and confirmed == requested
    assert dates(env, BEN, B)[1] is None
    assert 'id="unconfirmed">1<' in officer.get("/council/confirmations").text
    actions = entries(env, "council_action")
    assert [a["action"] for a in actions] == ["dsl_confirmation_requested", "dsl_confirmed"]
    assert {a["actor_email"] for a in actions} == {OFFICER}
    assert actions[1]["urn"] == A


def test_bad_confirmations_change_nothing(env: Env, officer: TestClient) -> None:
    post(officer, "/council/confirmations/round")
    before, kept = len(entries(env, "council_action")), dates(env, BEN, B)
    for form, says in (
            ({"school": str(A), "email": BEN, "by": "Head"}, "not a named DSL at school"),
            ({"school": str(B), "email": "nobody@birch.example", "by": "Head"},
             "not a named DSL at school"),
            ({"school": str(B), "email": BEN, "by": "   "}, "Say who at the school"),
            ({"school": str(B), "email": BEN, "by": "x" * 201}, "Say who at the school"),
            ({"school": "B", "email": BEN, "by": "Head"}, "A URN is a whole number"),
            ({"school": " ", "email": BEN, "by": "Head"}, "Enter the school&#39;s URN"),
            ({"school": str(B), "email": BEN}, "Say who at the school")):
        got = post(officer, "/council/confirmations/confirm", **form)
        assert got.status_code == 400, form
        assert says in got.text, (form, got.text[-1500:])
    assert post(officer, "/council/confirmations/round", school="x1").status_code == 400
    assert dates(env, BEN, B) == kept
    assert len(entries(env, "council_action")) == before
