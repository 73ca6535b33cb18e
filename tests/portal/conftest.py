"""Fixtures for the portal's tests: a signed drop, a migrated database, a TestClient over
HTTPS (so the ``__Host-`` Secure cookie is sent, as in production)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from databook.ledger.models import LedgerEntry, LedgerReasonText
from portal.app import create_app
from portal.migrate import ready
from tests.portal.helpers import CSRF, PASSWORD, Env, make_env


@pytest.fixture
def env(tmp_path: Path) -> Env:
    return make_env(tmp_path)


@pytest.fixture
def client(env: Env) -> Iterator[TestClient]:
    with TestClient(create_app(env.settings), base_url="https://testserver",
                    follow_redirects=False) as c:
        yield c


def csrf_of(page: str) -> str:
    found = CSRF.search(page)
    assert found, page[:500]
    return found.group(1)


def entries(env: Env, kind: str | None = None) -> list[dict[str, Any]]:
    with ready(env.settings.portal.database_url)() as db:
        query = select(LedgerEntry.body).order_by(LedgerEntry.idx)
        if kind:
            query = query.where(LedgerEntry.kind == kind)
        return [json.loads(b) for b in db.scalars(query)]


def reason_texts(env: Env) -> list[str]:
    with ready(env.settings.portal.database_url)() as db:
        return list(db.scalars(select(LedgerReasonText.text)))


def sign_in(client: httpx.Client, env: Env, email: str, secret: str, *,
            agree: bool = True, landing: str = "/") -> None:
    """Password, then a TOTP code (landing on ``landing``: /council for an officer), then
    (optionally) the agreement."""
    page = client.get("/signin")
    done = client.post("/signin", data={"email": email, "password": PASSWORD,
                                        "csrf": csrf_of(page.text)})
    assert done.status_code == 303 and done.headers["location"] == "/signin/second", done.text
    page = client.get("/signin/second")
    done = client.post("/signin/totp", data={"code": env.next_code(secret),
                                             "csrf": csrf_of(page.text)})
    assert done.status_code == 303 and done.headers["location"] == landing, done.text
    if agree:
        page = client.get("/agreement")
        if 'name="accept"' in page.text:
            version = re.search(r'name="version" value="([^"]+)"', page.text)
            assert version
            done = client.post("/agreement", data={"accept": "yes", "csrf": csrf_of(page.text),
                                                   "version": version.group(1)})
            assert done.status_code == 303, done.text


def download(client: httpx.Client, urn: int, **form: str) -> Any:
    page = client.get(f"/schools/{urn}/download")
    assert page.status_code == 200, page.text
    run = re.search(r'name="run_id" value="([^"]+)"', page.text)
    assert run
    data = {"csrf": csrf_of(page.text), "run_id": run.group(1), "reason": "concern"} | form
    return client.post(f"/schools/{urn}/download", data=data)
