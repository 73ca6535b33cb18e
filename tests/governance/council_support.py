"""What the council-page tests share: a council officer account, the route list from
``app.routes``, the allow-list every non-council route must be on, and a run whose manifest
lists a pseudonym (for the child look-up)."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from typing import Any

from fastapi import FastAPI
from fastapi.routing import iter_route_contexts
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from databook.store import LocalStore
from portal.access import council_officer
from portal.app import create_app
from portal.migrate import ready
from portal.models import User
from publish import manifest
from publish.drop import Signing, new_run_id, write_run
from tests.portal.conftest import sign_in
from tests.portal.helpers import SCHOOLS, Env, add_user

#: Every route that is NOT a council page, by (method, path): sign-in, enrolment, the
#: school's own pages. A route added later that is on neither this list nor under /council
#: with the council check fails ``test_every_route_is_public_school_or_council_only``.
PUBLIC_OR_SCHOOL = frozenset({
    ("GET", "/signin"), ("POST", "/signin"), ("GET", "/signin/second"), ("GET", "/accessibility"),
    ("POST", "/signin/totp"), ("POST", "/signin/passkey/options"),
    ("POST", "/signin/passkey/verify"), ("POST", "/signout"),
    ("GET", "/enrol/factor"), ("GET", "/enrol/totp/setup"), ("POST", "/enrol/totp"),
    ("POST", "/enrol/passkey/options"), ("POST", "/enrol/passkey/verify"),
    ("GET", "/enrol/{token}"), ("POST", "/enrol/{token}"),
    ("GET", "/"), ("GET", "/agreement"), ("POST", "/agreement"),
    ("GET", "/schools/{urn}"), ("GET", "/schools/{urn}/receipts/{index}"),
    ("GET", "/schools/{urn}/download"), ("POST", "/schools/{urn}/download"),
    ("GET", "/schools/{urn}/lookup"), ("POST", "/schools/{urn}/lookup"),
    ("POST", "/schools/{urn}/lookup/refused"),
})
#: Mounted applications (no route of ours inside).
MOUNTS = frozenset({"/static"})
COUNCIL_PREFIX = "/council"
A, B, C = sorted(SCHOOLS)


def app_of(client: TestClient) -> FastAPI:
    app = client.app
    assert isinstance(app, FastAPI)
    return app


def routes(app: FastAPI) -> list[tuple[str, str, Any]]:
    """(method, path, route) for every route the app serves, included routers flattened."""
    found = []
    for route in iter_route_contexts(app.routes):
        for method in sorted(route.methods or {"MOUNT"}):
            found.append((method, str(route.path), route))
    return found


def is_council_only(route: Any) -> bool:
    dependant = getattr(route, "dependant", None)
    return dependant is not None and any(d.call is council_officer
                                         for d in dependant.dependencies)


def council_routes(app: FastAPI) -> list[tuple[str, str]]:
    return [(m, p) for m, p, _r in routes(app) if p.startswith(COUNCIL_PREFIX)]


def fill(path: str, urn: int) -> str:
    """A concrete URL for a route path: ``{urn}`` is ``urn``, any other parameter ``1``."""
    out = path.replace("{urn}", str(urn))
    while "{" in out:
        start = out.index("{")
        out = out[:start] + "1" + out[out.index("}", start) + 1:]
    return out


def add_officer(env: Env, email: str = "olu.officer@council.example") -> str:
    """A council officer: enrolled (password and TOTP), role ``council``, no school."""
    secret = add_user(env, email, [])
    with ready(env.settings.portal.database_url).begin() as db:
        user = db.scalar(select(User).where(User.email == email))
        assert user is not None
        user.role = "council"
    return secret


@contextmanager
def officer_client(env: Env, email: str) -> Iterator[TestClient]:
    """A client signed in as a council officer (who needs no agreement)."""
    secret = add_officer(env, email)
    with TestClient(create_app(env.settings), base_url="https://testserver",
                    follow_redirects=False) as c:
        sign_in(c, env, email, secret, agree=False, landing="/council")
        yield c


def user_rows(env: Env) -> list[tuple[str, str, str, tuple[int, ...]]]:
    """Every account as (email, role, state, schools): to show that nothing changed."""
    with ready(env.settings.portal.database_url)() as db:
        return [(u.email, u.role, u.state, tuple(s.urn for s in u.schools))
                for u in db.scalars(select(User).order_by(User.email))]


def user_count(env: Env) -> int:
    with ready(env.settings.portal.database_url)() as db:
        return int(db.scalar(select(func.count(User.id))) or 0)


def publish_with_member(env: Env, pseudonym: str, urn: int) -> str:
    """A new run (``latest`` moves to it) whose manifest lists ``pseudonym`` at ``urn``."""
    files = [(f"{u}.xlsx", os.urandom(2048 + u % 89)) for u in SCHOOLS]
    run_id = new_run_id()
    signing = Signing(env.key, None, {env.key.key_id: env.key.public_pem})  # type: ignore[arg-type]

    def manifest_for(written: dict[str, bytes], signing: Signing) -> bytes:
        entries = [manifest.entry_for(int(n[:-5]), "8881000", SCHOOLS[int(n[:-5])], n, data,
                                      [pseudonym] if int(n[:-5]) == urn else [], 1)
                   for n, data in written.items()]
        return manifest.build(run_id=run_id, as_at=date(2026, 11, 22),
                              generated_at=datetime.now(UTC), source_rows={},
                              signing_key_id=env.key.key_id, entries=entries)

    write_run(LocalStore(env.drop), run_id, files, manifest_for, signing)  # type: ignore[arg-type]
    return run_id


def csv_lines(text: str) -> list[list[str]]:
    import csv
    import io

    return list(csv.reader(io.StringIO(text)))


def body(entry: dict[str, Any]) -> str:
    return json.dumps(entry, sort_keys=True)
