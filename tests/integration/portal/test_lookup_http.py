"""Look up one pupil attacked through real HTTP: the page serves the bundle's
header only; a look-up is recorded before its one sealed row is served; bad input, a missing
CSRF token, another school, a stale run, a doctored bundle, too many look-ups and a council
that does not offer look-ups (or downloads) are refused and change nothing."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from databook.ledger import reports
from databook.store import LocalStore
from flows.settings import SettingsError, load
from portal.app import create_app
from publish import lookup_bundle as lb
from publish import manifest
from publish.drop import Signing, new_run_id, write_run
from schemas.databook import KEYS
from tests.support import (
    SCHOOLS,
    Env,
    add_user,
    csrf_of,
    entries,
    look,
    lookup_header,
    make_env,
    reason_texts,
    sign_in,
)

A, B = 100001, 100002
PUPILS = {A: [("A100000000001", "Zoe Featherstonehaugh", date(2015, 4, 1))],
          B: [("B100000000002", "Yann Quartermaine", date(2016, 5, 2))]}


@pytest.fixture(scope="module")
def keys() -> dict[int, lb.LookupKey]:
    return {urn: lb.derive(f"password of {urn}") for urn in SCHOOLS}


def pseudonym(urn: int, i: int) -> str:
    return hashlib.sha256(f"{urn}/{i}".encode()).hexdigest()


def publish_with_bundles(env: Env, keys: dict[int, lb.LookupKey]) -> str:
    """A new latest run: each school's (stand-in) workbook and a real look-up bundle."""
    run_id = new_run_id()
    files: list[tuple[str, bytes]] = []
    for urn in SCHOOLS:
        rows = []
        for upn, name, dob in PUPILS.get(urn, []):
            values: dict[str, lb.Value] = {k: None for k in KEYS}
            rows.append(tuple((values | {"upn": upn, "name": name, "date_of_birth": dob,
                                         "case_status": "Open"})[k] for k in KEYS))
        files.append((f"{urn}.xlsx", os.urandom(1000)))
        files.append((lb.file_name(urn), lb.build(keys[urn], urn, run_id, date(2026, 12, 3),
                                                  rows, [pseudonym(urn, i)
                                                         for i in range(len(rows))])))
    signing = Signing(env.key, None, {env.key.key_id: env.key.public_pem})  # type: ignore[arg-type]

    def manifest_for(written: Mapping[str, bytes], signing: Signing) -> bytes:
        entries_ = [manifest.entry_for(
            urn, "8881000", SCHOOLS[urn], f"{urn}.xlsx", written[f"{urn}.xlsx"],
            [pseudonym(urn, i) for i in range(len(PUPILS.get(urn, [])))],
            len(PUPILS.get(urn, [])), lookup=(lb.file_name(urn), written[lb.file_name(urn)]))
            for urn in SCHOOLS]
        return manifest.build(run_id=run_id, as_at=date(2026, 12, 3),
                              generated_at=datetime.now(UTC), source_rows={},
                              signing_key_id=env.key.key_id, entries=entries_)

    write_run(LocalStore(env.drop), run_id, files, manifest_for, signing)
    return run_id


def _client(env: Env) -> Iterator[TestClient]:
    with TestClient(create_app(env.settings), base_url="https://testserver",
                    follow_redirects=False) as c:
        yield c


@pytest.fixture
def looked(tmp_path: Path, keys: dict[int, lb.LookupKey],
           request: pytest.FixtureRequest) -> Iterator[tuple[TestClient, Env, str]]:
    extra: dict[str, str] = getattr(request, "param", {})
    env = make_env(tmp_path, **extra)
    run_id = publish_with_bundles(env, keys)
    for c in _client(env):
        secret = add_user(env, "ann.lead@alder.example", [A])
        sign_in(c, env, "ann.lead@alder.example", secret)
        yield c, env, run_id




def test_a_lookup_is_recorded_then_serves_one_sealed_row(
        looked: tuple[TestClient, Env, str], keys: dict[int, lb.LookupKey]) -> None:
    client, env, run_id = looked
    school = client.get(f"/schools/{A}")
    assert 'id="lookup-link"' in school.text and 'id="download"' in school.text
    page = client.get(f"/schools/{A}/lookup")
    assert page.status_code == 200
    header = json.loads(lookup_header(page.text))
    bundle = lb.parse((env.drop / run_id / lb.file_name(A)).read_bytes())
    assert header["check"] == bundle["check"] and header["run_id"] == run_id
    assert not any(t in page.text for t in bundle["index"])  # the header only
    assert not any(s[:40] in page.text for s in bundle["rows"].values())

    got = look(client, lb.upn_token(keys[A], "a100000000001"), reason="other",
               reason_text="Core group meeting")
    assert got.status_code == 200, got.text
    answer = got.json()
    assert answer["found"] is True and answer["row_id"] == pseudonym(A, 0)
    plain = json.loads(lb.open_row(keys[A], A, run_id, answer["row_id"], answer["sealed"]))
    assert plain["rows"][0][1] == "Zoe Featherstonehaugh"
    [entry] = entries(env, "lookup")
    assert (entry["urn"], entry["run_id"], entry["row"], entry["reason_code"]) == (
        A, run_id, pseudonym(A, 0), "other")
    assert "reason_text" not in entry and "reason_commitment" in entry
    assert reason_texts(env) == ["Core group meeting"]

    by_name = look(client, lb.name_token(keys[A], "featherstone-haugh", "2015-04-01"))
    assert by_name.json()["row_id"] == pseudonym(A, 0)
    for token in (lb.upn_token(keys[A], "a999"), lb.upn_token(keys[B], "b100000000002")):
        missing = look(client, token)  # not in the index; another school's token never is
        assert missing.status_code == 200 and missing.json() == {"found": False}
    assert [e["row"] for e in entries(env, "lookup")] == [pseudonym(A, 0)] * 2 + ["none"] * 2


def test_bad_input_csrf_other_school_and_stale_run_change_nothing(
        looked: tuple[TestClient, Env, str], keys: dict[int, lb.LookupKey]) -> None:
    client, env, run_id = looked
    token = lb.upn_token(keys[A], "a100000000001")
    for bad, status in ((look(client, "zz" * 32), 400), (look(client, token, reason="nope"), 400),
                        (look(client, token, reason="other"), 400),
                        (look(client, token, csrf=""), 403),
                        (look(client, token, csrf="x" * 40), 403),
                        (look(client, token, run_id="20260101T000000.000000Z-aaaaaa"), 409)):
        assert bad.status_code == status, bad.text
        assert "sealed" not in bad.text
    other = client.post(f"/schools/{B}/lookup", json={"token": lb.upn_token(
        keys[B], "b100000000002"), "reason": "concern", "run_id": run_id},
        headers={"X-CSRF-Token": csrf_of(client.get(f"/schools/{A}").text)})
    assert other.status_code == 404 and "sealed" not in other.text
    assert client.get(f"/schools/{B}/lookup").status_code == 404
    assert entries(env, "lookup") == []
    whats = [e["what"] for e in entries(env, "refused")]
    assert whats.count("bad_input") == 3 and whats.count("bad_csrf") == 2
    assert whats.count("other_school") == 2


def test_a_doctored_bundle_is_never_served(looked: tuple[TestClient, Env, str],
                                           keys: dict[int, lb.LookupKey]) -> None:
    client, env, run_id = looked
    page = client.get(f"/schools/{A}/lookup")
    path = env.drop / run_id / lb.file_name(A)
    path.write_bytes(path.read_bytes().replace(b'"format":1', b'"format":1 '))
    got = client.post(f"/schools/{A}/lookup", json={
        "token": lb.upn_token(keys[A], "a100000000001"), "reason": "concern",
        "run_id": run_id}, headers={"X-CSRF-Token": csrf_of(page.text)})
    assert got.status_code == 503 and "sealed" not in got.text
    assert entries(env, "lookup") == []
    assert [e["what"] for e in entries(env, "refused")][-1] == "tampered"


def test_a_row_the_browser_refused_is_recorded_as_served(
        looked: tuple[TestClient, Env, str]) -> None:
    client, env, run_id = looked
    csrf = csrf_of(client.get(f"/schools/{A}/lookup").text)
    for row_id in (pseudonym(A, 0), "../../etc", pseudonym(B, 0)):
        got = client.post(f"/schools/{A}/lookup/refused", json={"row_id": row_id},
                          headers={"X-CSRF-Token": csrf})
        assert got.status_code == 200
    assert [(e["row"], e["what"], e["run_id"]) for e in entries(env, "lookup_failed")] == [
        (pseudonym(A, 0), "bad_tag", run_id), ("unknown", "bad_tag", run_id),
        ("unknown", "bad_tag", run_id)]
    flood = [client.post(f"/schools/{A}/lookup/refused", json={"row_id": pseudonym(A, 0)},
                         headers={"X-CSRF-Token": csrf}).status_code for _ in range(20)]
    assert set(flood) == {429} and len(entries(env, "lookup_failed")) == 3  # not recorded
    db, config = _ledger_of(env)
    shown = [r["what"] for r in reports.irregular(db, config, {})]
    assert sum("failed its integrity check" in what for what in shown) == 3


def test_a_row_of_another_child_the_browser_refused_is_recorded_so(
        looked: tuple[TestClient, Env, str]) -> None:
    client, env, _ = looked
    csrf = csrf_of(client.get(f"/schools/{A}/lookup").text)
    for what in ("wrong_child", "<script>", "served"):  # only the two words are ever recorded
        got = client.post(f"/schools/{A}/lookup/refused",
                          json={"row_id": pseudonym(A, 0), "what": what},
                          headers={"X-CSRF-Token": csrf})
        assert got.status_code == 200
    assert [e["what"] for e in entries(env, "lookup_failed")] == [
        "wrong_child", "bad_tag", "bad_tag"]
    db, config = _ledger_of(env)
    shown = [r["what"] for r in reports.irregular(db, config, {})]
    assert sum("another child than the one asked for" in what for what in shown) == 1


def _ledger_of(env: Env) -> tuple[Any, Any]:
    from databook.ledger.config import from_settings
    from portal.migrate import ready
    return ready(env.settings.portal.database_url)(), from_settings(env.settings)


@pytest.mark.parametrize("looked", [{"DATABOOK_PORTAL_LOOKUPS_PER_HOUR": "3"}], indirect=True)
def test_lookups_are_rate_limited_per_user(looked: tuple[TestClient, Env, str],
                                           keys: dict[int, lb.LookupKey]) -> None:
    client, env, _ = looked
    token = lb.upn_token(keys[A], "a100000000001")
    assert [look(client, token).status_code for _ in range(5)] == [200, 200, 200, 429, 429]
    assert len(entries(env, "lookup")) == 3
    assert [e["what"] for e in entries(env, "refused")].count("lookup_rate") == 2


@pytest.mark.parametrize("looked", [{"DATABOOK_PORTAL_SCHOOL_ACCESS": "downloads"}],
                         indirect=True)
def test_a_council_offering_downloads_only_has_no_lookups(
        looked: tuple[TestClient, Env, str], keys: dict[int, lb.LookupKey]) -> None:
    client, env, run_id = looked
    assert 'id="lookup-link"' not in client.get(f"/schools/{A}").text
    assert client.get(f"/schools/{A}/lookup").status_code == 404
    csrf = csrf_of(client.get(f"/schools/{A}").text)
    got = client.post(f"/schools/{A}/lookup", json={
        "token": lb.upn_token(keys[A], "a100000000001"), "reason": "concern",
        "run_id": run_id}, headers={"X-CSRF-Token": csrf})
    assert got.status_code == 404 and "sealed" not in got.text
    assert entries(env, "lookup") == []
    assert client.get(f"/schools/{A}/download").status_code == 200


@pytest.mark.parametrize("looked", [{"DATABOOK_PORTAL_SCHOOL_ACCESS": "lookups"}],
                         indirect=True)
def test_a_council_offering_lookups_only_serves_no_workbook(
        looked: tuple[TestClient, Env, str], keys: dict[int, lb.LookupKey]) -> None:
    client, env, run_id = looked
    school = client.get(f"/schools/{A}").text
    assert 'id="download"' not in school and 'id="lookup-link"' in school
    assert client.get(f"/schools/{A}/download").status_code == 404
    got = client.post(f"/schools/{A}/download", data={
        "csrf": csrf_of(school), "run_id": run_id, "reason": "concern"})
    assert got.status_code == 404 and not got.content.startswith(b"PK")
    assert entries(env, "download") == []
    assert look(client, lb.upn_token(keys[A], "a100000000001")).json()["found"] is True


def test_school_access_setting_is_checked(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="school_access must be one of"):
        load(environ={"DATABOOK_HOME": str(tmp_path),
                      "DATABOOK_PORTAL_SCHOOL_ACCESS": "sometimes"})


@pytest.mark.parametrize("looked", [{"DATABOOK_PORTAL_LOOKUPS_PER_HOUR": "5"}], indirect=True)
def test_simultaneous_lookups_cannot_overrun_the_hourly_limit(
        looked: tuple[TestClient, Env, str], keys: dict[int, lb.LookupKey]) -> None:
    """Twenty look-ups at once against a limit of five: counted and recorded in one locked
    transaction, so exactly five are served."""
    client, env, run_id = looked
    token = lb.upn_token(keys[A], "a100000000001")
    page = client.get(f"/schools/{A}/lookup")
    csrf = csrf_of(page.text)

    def one(_: int) -> int:
        return client.post(f"/schools/{A}/lookup", headers={"X-CSRF-Token": csrf}, json={
            "token": token, "reason": "concern", "run_id": run_id}).status_code

    with ThreadPoolExecutor(20) as pool:
        statuses = list(pool.map(one, range(20)))
    assert sorted(statuses) == [200] * 5 + [429] * 15
    assert len(entries(env, "lookup")) == 5


@pytest.mark.parametrize("urn", ["9223372036854775808", "99999999999999999999", "+112000",
                                 "112_000"])
def test_odd_urns_are_refused_and_recorded_by_route(looked: tuple[TestClient, Env, str],
                                                    urn: str) -> None:
    client, env, _ = looked
    assert client.get(f"/schools/{urn}/lookup").status_code in (400, 404, 422)
    got = client.post(f"/schools/{urn}/lookup", json={},
                      headers={"X-CSRF-Token": csrf_of(client.get(f"/schools/{A}").text)})
    assert got.status_code in (400, 404, 422)
    for entry in entries(env, "refused"):
        assert urn not in json.dumps(entry), entry  # the route's template, never the typed path


@pytest.mark.parametrize("typed", ["looked \u202eevil", "bell \x07 here", "nul \x00"])
def test_the_lookup_reason_refuses_control_and_direction_characters(
        looked: tuple[TestClient, Env, str], keys: dict[int, lb.LookupKey], typed: str) -> None:
    client, env, _ = looked
    token = lb.upn_token(keys[A], "a100000000001")
    got = look(client, token, reason="other", reason_text=typed)
    assert got.status_code == 400 and "ordinary characters" in got.json()["error"]
    assert not entries(env, "lookup")
