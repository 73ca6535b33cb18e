"""Download with a reason, through the real app (TestClient): the bytes are the drop's, the
ledger records it, and every way of reaching another school's file or a doctored file is
refused, recorded, and serves nothing."""

from __future__ import annotations

import hashlib
import re

from fastapi.testclient import TestClient

from tests.support import SCHOOLS, Env, add_user, csrf_of, download, entries, reason_texts, sign_in

A, B = 100001, 100002


def test_download_serves_the_drop_bytes_and_records_it(client: TestClient, env: Env) -> None:
    secret = add_user(env, "ann.lead@alder.example", [A])
    sign_in(client, env, "ann.lead@alder.example", secret)
    page = client.get(f"/schools/{A}")
    assert page.status_code == 200
    assert SCHOOLS[A] in page.text and "21 November 2026" in page.text  # GOV.UK date style
    assert all(name not in page.text for urn, name in SCHOOLS.items() if urn != A)
    got = download(client, A, reason="other", reason_text="Core group meeting this afternoon")
    assert got.status_code == 200
    on_disk = (env.drop / env.run_id / f"{A}.xlsx").read_bytes()
    assert got.content == on_disk
    assert got.headers["cache-control"] == "no-store"
    assert "Alder Primary School safeguarding databook 2026-11-21.xlsx" in \
        got.headers["content-disposition"]
    [entry] = entries(env, "download")
    assert entry["urn"] == A and entry["run_id"] == env.run_id
    assert entry["file_sha256"] == hashlib.sha256(on_disk).hexdigest()
    assert entry["reason_code"] == "other" and "reason_text" not in entry
    assert "Core group" not in str(entry)  # only a commitment is in the signed entry
    assert reason_texts(env) == ["Core group meeting this afternoon"]
    history = client.get(f"/schools/{A}")
    assert re.search(r"ledger entry \d+", history.text)


def test_another_school_is_refused_every_way(client: TestClient, env: Env) -> None:
    secret = add_user(env, "ann.lead@alder.example", [A])
    sign_in(client, env, "ann.lead@alder.example", secret)
    own = client.get(f"/schools/{A}/download")
    token = csrf_of(own.text)
    other = (env.drop / env.run_id / f"{B}.xlsx").read_bytes()
    attempts = [
        client.get(f"/schools/{B}"),
        client.get(f"/schools/{B}/download"),
        client.post(f"/schools/{B}/download",
                    data={"csrf": token, "run_id": env.run_id, "reason": "concern"}),
        client.get(f"/schools/{A}/../{B}/download"),
        client.get(f"/schools/{A}/download/..%2F..%2F{B}"),
        client.get(f"/{env.run_id}/{B}.xlsx"),
        client.get(f"/drop/{env.run_id}/{B}.xlsx"),
        client.get(f"/static/..%2F..%2F..%2Fdrop%2F{env.run_id}%2F{B}.xlsx"),
        client.get("/schools/..%2F..%2Fetc%2Fpasswd"),
        client.get(f"/schools/{B}abc"),
    ]
    for response in attempts:
        assert response.status_code in (400, 403, 404), (response.request.url,
                                                          response.status_code)
        assert other not in response.content
        assert "Birch" not in response.text
    refused = entries(env, "refused")
    assert len(refused) >= len(attempts)
    assert {r["what"] for r in refused} >= {"other_school", "not_found"}
    assert not entries(env, "download")


def test_a_made_up_or_old_run_id_is_refused(client: TestClient, env: Env) -> None:
    secret = add_user(env, "ann.lead@alder.example", [A])
    sign_in(client, env, "ann.lead@alder.example", secret)
    for run_id in ("20250101T000000.000000Z-abcdef", "../../drop", f"{env.run_id}/../x", ""):
        got = download(client, A, run_id=run_id)
        assert got.status_code in (400, 404), run_id
        assert not got.headers.get("content-disposition")
    assert not entries(env, "download")
    assert any(r["what"] == "unknown_run" for r in entries(env, "refused"))


def test_a_user_with_two_schools_reaches_both_and_no_third(client: TestClient,
                                                            env: Env) -> None:
    secret = add_user(env, "pat.two@trust.example", [A, B])
    sign_in(client, env, "pat.two@trust.example", secret)
    assert download(client, A).status_code == 200
    assert download(client, B).status_code == 200
    assert client.get("/schools/100003").status_code == 404


def test_a_doctored_drop_is_never_served(client: TestClient, env: Env) -> None:
    secret = add_user(env, "ann.lead@alder.example", [A])
    sign_in(client, env, "ann.lead@alder.example", secret)
    assert download(client, A).status_code == 200  # verified and cached
    path = env.drop / env.run_id / f"{A}.xlsx"
    data = bytearray(path.read_bytes())
    data[100] ^= 1
    path.write_bytes(bytes(data))
    got = download(client, A)
    assert got.status_code == 503 and bytes(data) not in got.content
    assert "cannot be served" in got.text
    path.write_bytes(bytes(data[:100]))  # a truncated file is refused too
    assert client.get(f"/schools/{A}/download").status_code == 503
    (env.drop / env.run_id / "manifest.json.sig").unlink()
    assert client.get(f"/schools/{A}/download").status_code == 503
    whats = [r["what"] for r in entries(env, "refused")]
    assert whats.count("tampered") >= 2 and "unsigned" in whats
    assert len(entries(env, "download")) == 1


def test_a_key_in_the_drop_is_not_trusted(client: TestClient, env: Env) -> None:
    """Whoever can rewrite the drop can replace its public key too: the portal's own
    configuration decides which key is the council's."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from publish.keystore import SigningKey
    from tests.support import write_drop

    secret = add_user(env, "ann.lead@alder.example", [A])
    sign_in(client, env, "ann.lead@alder.example", secret)
    write_drop(env.drop, SigningKey(Ed25519PrivateKey.generate()))  # a forger's run, latest
    got = download_page = client.get(f"/schools/{A}/download")
    assert download_page.status_code == 503
    assert got.headers.get("content-disposition") is None
    assert entries(env, "refused")[-1]["what"] == "tampered"


def test_reason_rules(client: TestClient, env: Env) -> None:
    secret = add_user(env, "ann.lead@alder.example", [A])
    sign_in(client, env, "ann.lead@alder.example", secret)
    for form in ({"reason": "other", "reason_text": "  "}, {"reason": "curiosity"},
                 {"reason": "other", "reason_text": "x" * 501},
                 {"reason": "concern", "reason_text": "y" * 3000}):
        got = download(client, A, **form)
        assert got.status_code == 400, form
        assert not got.headers.get("content-disposition")
    assert not entries(env, "download")
    page = client.get(f"/schools/{A}/download")
    assert "Do not type a child" in page.text
