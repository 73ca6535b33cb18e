"""Sample checks over real HTTP and the real command: the same seed draws the same sample (on
the page, again on the page, and by ``databook audit sample``), findings and the sign-off are
ledgered, a signed-off check cannot change, and the yearly summary counts each school."""

from __future__ import annotations

import hashlib
import re
from datetime import date, timedelta

import pytest
from fastapi.testclient import TestClient

from databook.ledger import record
from portal.duties.samples import draw, rank
from portal.migrate import ready
from tests.support import A, B, Env, clean_env, csrf_of, databook, entries, officer_client

SEED = "00c0ffee00c0ffee"
TODAY = date.today().isoformat()


def _accesses(env: Env, count: int = 30) -> list[int]:
    """Synthetic downloads and look-ups at two schools (their reasons as a DSL gives them)."""
    made = []
    with ready(env.settings.portal.database_url, env.settings.portal.state_dir).begin() as db:
        for i in range(count):
            urn = A if i % 3 else B
            if i % 4:
                made.append(record(db, "download", actor_id=1, actor_email="ann@alder.example",
                                   urn=urn, run_id=env.run_id, reason_code="concern"))
            else:
                made.append(record(db, "lookup", actor_id=1, actor_email="ann@alder.example",
                                   urn=urn, run_id=env.run_id, row="none",
                                   reason_code="other", reason_text="new starter"))
    return made


def _draw(client: TestClient, **form: str) -> str:
    page = client.get("/council/samples")
    done = client.post("/council/samples", data={
        "csrf": csrf_of(page.text), "school": "", "start": TODAY, "end": TODAY, "size": "5",
        "seed": SEED} | form)
    assert done.status_code == 303, done.text
    return str(done.headers["location"])


def _sampled(client: TestClient, where: str) -> list[int]:
    return [int(i) for i in re.findall(r'<tr class="govuk-table__row" id="item-(\d+)"',
                                       client.get(where).text)]


def test_the_draw_is_a_documented_hash_ranking_independent_of_order() -> None:
    population = list(range(100, 160))
    chosen = draw(population, SEED, 7)
    assert chosen == draw(list(reversed(population)), SEED, 7) == sorted(chosen)

    assert rank(SEED, 101) == hashlib.sha256(b"00c0ffee00c0ffee:101").hexdigest()
    assert chosen != draw(population, "00c0ffee00c0fff0", 7)
    assert draw(population[:3], SEED, 7) == population[:3]


def test_an_officer_draws_checks_signs_off_and_internal_audit_redraws(env: Env) -> None:
    made = _accesses(env)
    with officer_client(env, "olu@council.example") as officer:
        first = _draw(officer)
        again = _draw(officer)
        sample = _sampled(officer, first)
        assert len(sample) == 5 and set(sample) <= set(made)
        assert _sampled(officer, again) == sample  # the same seed: the same sample
        other = _sampled(officer, _draw(officer, seed="0123456789abcdef"))
        assert other != sample
        school = _sampled(officer, _draw(officer, school=str(B), size="200"))
        assert school == [m for i, m in enumerate(made) if i % 3 == 0]
        page = officer.get(first)
        assert "the same sample" in page.text and SEED in page.text
        token = csrf_of(page.text)
        refused = officer.post(f"{first}/sign-off", data={"csrf": token})
        assert refused.status_code == 400 and "finding for every" in refused.text
        findings = {f"finding-{i}": "appropriate" for i in sample}
        findings[f"finding-{sample[0]}"] = "reason_inadequate"
        assert officer.post(f"{first}/findings",
                            data={"csrf": token} | findings).status_code == 303
        bad = officer.post(f"{first}/findings", data={"csrf": token, "finding-999999": "x"})
        assert bad.status_code == 400
        assert officer.post(f"{first}/sign-off", data={"csrf": token}).status_code == 303
        late = officer.post(f"{first}/findings", data={"csrf": token,
                                                       f"finding-{sample[1]}": "referred"})
        assert late.status_code == 400 and "signed off" in late.text
        summary = officer.get(f"/council/samples/annual?year={date.today().year}")
        assert f'id="annual-{A}"' in summary.text and f'id="annual-{B}"' in summary.text
        csv = officer.get(f"/council/samples/annual?year={date.today().year}&format=csv")
        assert csv.text.splitlines()[0].startswith("urn,users,downloads,lookups")
    [drawn, *_] = entries(env, "sample_drawn")
    assert (drawn["seed"], drawn["sample"], drawn["population"]) == (
        SEED, ",".join(map(str, sample)), len(made))
    assert sorted(e["finding"] for e in entries(env, "sample_finding")) == sorted(
        ["reason_inadequate"] + ["appropriate"] * 4)
    [signed] = entries(env, "sample_signed_off")
    assert signed["findings"] == "appropriate=4;reason_inadequate=1;referred=0"

    environ = clean_env(**env.environ())
    redrawn = databook("audit", "sample", "--check", "1", env=environ)
    assert redrawn.returncode == 0 and "the same sample as recorded" in redrawn.stdout
    by_hand = databook("audit", "sample", "--from", TODAY, "--to", TODAY, "--size", "5",
                       "--seed", SEED, "--format", "csv", env=environ)
    assert by_hand.returncode == 0, by_hand.stderr
    assert [int(r.split(",")[0]) for r in by_hand.stdout.splitlines()[2:]] == sample
    future = (date.today() + timedelta(days=1)).isoformat()
    wrong = databook("audit", "sample", "--from", TODAY, "--to", future, env=environ)
    assert wrong.returncode != 0 and "--to: Draw a sample only of days" in wrong.stderr


@pytest.mark.parametrize(("field", "value", "message"), [
    ("size", "0", "whole number from 1"), ("seed", "not-hex!", "hexadecimal"),
    ("start", "soon", "first day"), ("school", "12x", "URN"),
])
def test_a_bad_draw_is_named_by_its_field_and_records_nothing(env: Env, field: str,
                                                              value: str, message: str) -> None:
    with officer_client(env, "olu@council.example") as officer:
        page = officer.get("/council/samples")
        got = officer.post("/council/samples", data={
            "csrf": csrf_of(page.text), "start": TODAY, "end": TODAY, "size": "5",
            field: value})
        assert got.status_code == 400 and message in got.text
        assert f'id="{field}-error"' in got.text
    assert entries(env, "sample_drawn") == []
