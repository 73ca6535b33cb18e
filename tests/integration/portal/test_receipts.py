"""Receipts on the school page: a link per past download returns that download's receipt, which
checks offline with ``databook audit check-receipt``; nobody reaches a receipt that is not their
own download (another user's, another school's, a sign-in entry, an index that does not exist),
and each attempt is a ``refused`` ledger entry."""

from __future__ import annotations

import html
import json
import os
import re
import subprocess
import sys
from pathlib import Path

from fastapi.testclient import TestClient

from databook.ledger.receipts import check
from portal.app import create_app
from tests.support import Env, add_user, download, entries, sign_in

A, B = 100001, 100002


def receipt_links(page: str, urn: int) -> list[int]:
    return [int(i) for i in re.findall(rf'href="/schools/{urn}/receipts/(\d+)"', page)]


def ledger_key(page: str) -> str:
    found = re.search(r"check-receipt databook-receipt-N\.json --key (\S+)</pre>", page)
    assert found, page
    return html.unescape(found.group(1))


def test_own_receipt_is_linked_and_checks_offline(client: TestClient, env: Env,
                                                  tmp_path: Path) -> None:
    secret = add_user(env, "ann.lead@alder.example", [A])
    sign_in(client, env, "ann.lead@alder.example", secret)
    assert download(client, A).status_code == 200
    assert download(client, A, reason="conference").status_code == 200
    page = client.get(f"/schools/{A}").text
    links = receipt_links(page, A)
    downloads = [e["index"] for e in entries(env, "download")]
    assert sorted(links) == sorted(downloads) and len(links) == 2
    assert "databook audit check-receipt" in page
    key = ledger_key(page)

    got = client.get(f"/schools/{A}/receipts/{links[0]}")
    assert got.status_code == 200, got.text
    assert got.headers["cache-control"] == "no-store"
    assert "attachment" in got.headers["content-disposition"]
    receipt = got.json()
    entry = check(receipt, key)
    assert entry["kind"] == "download" and entry["urn"] == A and entry["index"] == links[0]
    assert entry["actor_email"] == "ann.lead@alder.example"

    saved = tmp_path / "receipt.json"
    saved.write_text(json.dumps(receipt))
    environ = {k: v for k, v in os.environ.items() if not k.startswith("DATABOOK_")}
    environ |= env.environ()
    ok = subprocess.run([str(Path(sys.executable).parent / "databook"), "audit",
                         "check-receipt", str(saved), "--key", key],
                        capture_output=True, text=True, env=environ, timeout=120)
    assert ok.returncode == 0, ok.stderr
    assert f"entry {links[0]} (download)" in ok.stdout

    forged = dict(receipt, entry=receipt["entry"].replace(f'"urn":{A}', f'"urn":{B}'))
    assert forged["entry"] != receipt["entry"]
    saved.write_text(json.dumps(forged))
    bad = subprocess.run([str(Path(sys.executable).parent / "databook"), "audit",
                          "check-receipt", str(saved), "--key", key],
                         capture_output=True, text=True, env=environ, timeout=120)
    assert bad.returncode == 1 and bad.stderr.startswith("databook: error:"), bad.stderr


def test_nobody_reaches_a_receipt_that_is_not_their_own_download(env: Env) -> None:
    """Ann (school A) tries Cy's receipt (same school), Bea's (school B) through both
    schools' URLs, her own sign-in entry, an index that does not exist and one too large."""
    app = create_app(env.settings)
    people = {"ann": ("ann.lead@alder.example", [A]), "cy": ("cy.deputy@alder.example", [A]),
              "bea": ("bea.lead@birch.example", [B])}
    secrets = {who: add_user(env, email, urns) for who, (email, urns) in people.items()}
    made: dict[str, int] = {}
    for who in ("cy", "bea"):
        email, [urn] = people[who]
        with TestClient(app, base_url="https://testserver", follow_redirects=False) as c:
            sign_in(c, env, email, secrets[who])
            assert download(c, urn).status_code == 200
            made[who] = entries(env, "download")[-1]["index"]
            assert receipt_links(c.get(f"/schools/{urn}").text, urn) == [made[who]]
    with TestClient(app, base_url="https://testserver", follow_redirects=False) as ann:
        sign_in(ann, env, "ann.lead@alder.example", secrets["ann"])
        own_signin = [e["index"] for e in entries(env, "signin_ok")
                      if e["actor_email"] == "ann.lead@alder.example"][-1]
        refused_before = len(entries(env, "refused"))
        tries = {f"/schools/{A}/receipts/{made['cy']}": 404,
                 f"/schools/{A}/receipts/{made['bea']}": 404,
                 f"/schools/{B}/receipts/{made['bea']}": 404,
                 f"/schools/{A}/receipts/{own_signin}": 404,
                 f"/schools/{A}/receipts/999999": 404,
                 f"/schools/{A}/receipts/{2**70}": 400,
                 f"/schools/{A}/receipts/-1": 400}
        for url, status in tries.items():
            got = ann.get(url)
            assert got.status_code == status, (url, got.status_code)
            assert "inclusion_proof" not in got.text and "cy.deputy" not in got.text
            assert "bea.lead" not in got.text
        assert receipt_links(ann.get(f"/schools/{A}").text, A) == []
    refused = entries(env, "refused")[refused_before:]
    whats = [r["what"] for r in refused]
    assert whats.count("other_receipt") == 4 and "other_school" in whats
    assert whats.count("bad_input") == 2
    assert all(r["actor_email"] == "ann.lead@alder.example" for r in refused)
