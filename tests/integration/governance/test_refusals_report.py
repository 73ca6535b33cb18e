"""refused requests are recorded AND seen. A DSL reaching for another
school's page and a council page, and a forged form, show on the council's irregular-access
page and CSV and in ``databook audit irregular``, by user and kind. Over HTTP, on SQLite and
on the real PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from databook.cli import main
from portal.app import create_app
from portal.migrate import ready
from tests.support import A, B, Env, add_user, csv_lines, make_env, officer_client, sign_in

OFFICER = "olu.officer@council.example"
DSL = "lee.dsl@alder.example"


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def env(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Env:
    extra = ({} if request.param == "sqlite" else
             {"DATABOOK_PORTAL_DATABASE_URL": request.getfixturevalue("pg_url")})
    env = make_env(tmp_path_factory.mktemp("refusals"), **extra)
    ready(env.settings.portal.database_url, env.settings.portal.state_dir)
    return env


@pytest.fixture
def officer(env: Env) -> Iterator[TestClient]:
    with officer_client(env, OFFICER) as c:
        yield c


def test_refusals_are_listed_by_user_and_kind(env: Env, officer: TestClient,
                                              monkeypatch: pytest.MonkeyPatch,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    secret = add_user(env, DSL, [A], agreed=True)
    with TestClient(create_app(env.settings), base_url="https://testserver",
                    follow_redirects=False) as dsl:
        sign_in(dsl, env, DSL, secret)
        assert dsl.get(f"/schools/{B}").status_code == 404
        assert dsl.get(f"/schools/{B}/download").status_code == 404
        assert dsl.get("/council/users").status_code == 403
        assert dsl.post("/signout", data={"csrf": "forged"}).status_code == 403
    page = officer.get("/council/audit/irregular").text
    assert "refused 2 time(s): other_school" in page
    assert "/schools/{urn}, /schools/{urn}/download" in page
    assert "refused 1 time(s): not_council" in page and "refused 1 time(s): bad_csrf" in page
    rows = [r for r in csv_lines(officer.get("/council/audit/irregular.csv").text)[1:]
            if "refused" in r[3]]
    assert sorted((r[2], r[3].split(" (")[0]) for r in rows) == [
        (DSL, "refused 1 time(s): bad_csrf"), (DSL, "refused 1 time(s): not_council"),
        (DSL, "refused 2 time(s): other_school")]
    for name, value in env.environ().items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("DATABOOK_PORTAL_DATABASE_URL",
                       env.settings.portal.database_url)
    capsys.readouterr()
    assert main(["audit", "irregular"]) == 0
    out = capsys.readouterr().out
    assert out.count(DSL) >= 3 and "refused 2 time(s): other_school" in out
