"""The tests' one support module: councils, runs and drops to test against, portal users and
signed-in clients, the council's routes, a ledger to fill, Chromium, axe-core, LibreOffice.

Fixtures (what pytest injects) live in ``tests/conftest.py``; everything a test calls lives
here, so a test file names one place for its helpers whatever it tests.
"""

from __future__ import annotations

import datetime as dt
import getpass
import hashlib
import html as html_lib
import io
import ipaddress
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any, ClassVar

import httpx
import pandas as pd
import pyotp
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.x509.oid import NameOID
from fastapi import FastAPI
from fastapi.routing import iter_route_contexts
from fastapi.testclient import TestClient
from openpyxl import load_workbook
from openpyxl.workbook.workbook import Workbook
from sqlalchemy import Engine, delete, func, select
from sqlalchemy.orm import Session, sessionmaker

from databook.database import engine_for, session_factory
from databook.ledger import log, sealing
from databook.ledger.config import LedgerConfig
from databook.ledger.models import LedgerCheckpoint, LedgerEntry, LedgerNode, LedgerReasonText
from databook.store import LocalStore
from demo import DemoSize, generate
from flows.settings import NightlySettings, load
from portal.access import council_officer
from portal.app import create_app
from portal.cli.portal import install_key
from portal.migrate import ready, upgrade
from portal.models import Credential, User, UserSchool
from portal.registers import partner_store
from portal.registers.partners import UserPartner
from portal.security.keys import totp_cipher
from portal.security.passwords import HASHER
from publish import manifest
from publish.drop import (
    Signing,
    new_run_id,
    write_run,
)
from publish.encrypt import decrypt
from publish.keystore import SigningKey
from publish.workbook import RunInfo
from schemas.databook import KEYS
from schemas.partners import PartnerRecord

OLE_MAGIC = bytes.fromhex("D0CF11E0A1B11AE1")


def open_encrypted(data: bytes, password: str) -> tuple[Workbook, bytes]:
    plain = decrypt(data, password)
    return load_workbook(io.BytesIO(plain)), plain


def sheet_values(wb: Workbook, sheet: str) -> list[tuple[object, ...]]:
    return [tuple(_plain(v) for v in row) for row in wb[sheet].iter_rows(values_only=True)]


def _plain(value: object) -> object:
    return value.date() if isinstance(value, datetime) else value


def formula_cells(plain_xlsx: bytes) -> list[str]:
    """Every worksheet XML part that holds a formula element (there must be none)."""
    with zipfile.ZipFile(io.BytesIO(plain_xlsx)) as z:
        return [n for n in z.namelist() if n.startswith("xl/worksheets/")
                and (b"<f>" in z.read(n) or b"<f " in z.read(n))]


def all_text(plain_xlsx: bytes) -> str:
    with zipfile.ZipFile(io.BytesIO(plain_xlsx)) as z:
        return "".join(z.read(n).decode("utf-8", "replace") for n in z.namelist())


def browser_text(page: Path, profile: Path) -> str:
    """The page's DOM after a real headless Chromium (Debian's) has loaded and rendered it."""
    done = subprocess.run(
        ["/usr/bin/chromium", "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         f"--user-data-dir={profile}", "--dump-dom", page.as_uri()],
        capture_output=True, text=True, timeout=120, check=True)
    return done.stdout


__all__ = ["OLE_MAGIC", "all_text", "browser_text", "date", "formula_cells", "open_encrypted",
           "sheet_values"]


SCHOOLS = {100001: "Alder Primary School", 100002: "Birch Academy", 100003: "Cedar C of E School"}


PASSWORD = "tortoise lantern quarry 42"


CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def write_drop(root: Path, key: SigningKey, as_at: date = date(2026, 11, 21)) -> str:
    """One published run: a file per school (random bytes stand for the encrypted workbook;
    the portal never opens it), a signed manifest, ``latest``."""
    files = [(f"{urn}.xlsx", os.urandom(2048 + urn % 97)) for urn in SCHOOLS]
    signing = Signing(key, None, {key.key_id: key.public_pem})  # type: ignore[arg-type]

    def manifest_for(written: dict[str, bytes], signing: Signing) -> bytes:
        entries = [manifest.entry_for(int(name[:-5]), "8881000", SCHOOLS[int(name[:-5])], name,
                                      data, [], 3) for name, data in written.items()]
        return manifest.build(run_id=run_id, as_at=as_at, generated_at=datetime.now(UTC),
                              source_rows={}, signing_key_id=key.key_id, entries=entries)

    run_id = new_run_id()
    write_run(LocalStore(root), run_id, files, manifest_for, signing)  # type: ignore[arg-type]
    return run_id


@dataclass
class Env:
    home: Path
    drop: Path
    key: SigningKey
    settings: NightlySettings
    run_id: str
    used_steps: dict[str, int] = field(default_factory=dict)

    def environ(self) -> dict[str, str]:
        return {"DATABOOK_HOME": str(self.home), "DATABOOK_DROP": str(self.drop)}

    def next_code(self, secret: str) -> str:
        """A TOTP code from a step not used yet (one step either side is accepted)."""
        now = int(time.time() // 30)
        step = max(now - 1, self.used_steps.get(secret, now - 2) + 1)
        if step > now + 1:
            time.sleep((step - 1) * 30 - time.time() + 0.5)
        self.used_steps[secret] = step
        return pyotp.TOTP(secret).at(step * 30)


def make_env(tmp: Path, base_url: str = "https://testserver", **extra: str) -> Env:
    home, drop = tmp / "home", tmp / "drop"
    key = SigningKey(Ed25519PrivateKey.generate())
    run_id = write_drop(drop, key)
    environ = {"DATABOOK_HOME": str(home), "DATABOOK_DROP": str(drop),
               "DATABOOK_PORTAL_BASE_URL": base_url, **extra}
    settings = load(environ=environ)
    portal = settings.portal
    install_key(key.public_pem, portal.trusted_keys_dir)
    sign_protocols(portal.database_url, list(SCHOOLS))
    return Env(home, drop, key, settings, run_id)


def sign_protocols(url: str, urns: list[int]) -> None:
    """The register: these schools signed the current access protocol."""
    from portal.registers import store
    from portal.registers.record import SchoolRecord, Versions

    with ready(url).begin() as db:
        store.save(db, [SchoolRecord(urn=u, name=SCHOOLS[u], protocol_signed_on=date(2026, 9, 1),
                                     protocol_version=Versions.protocol) for u in urns])


def add_user(env: Env, email: str, urns: list[int], *, secret: str | None = None,
             agreed: bool | str = False) -> str:
    """A fully enrolled user (password and TOTP) at ``urns``; returns the TOTP secret.
    ``agreed``: True for the current agreement version, or the version accepted."""
    return enrol_user(env.settings, email, urns, secret=secret, agreed=agreed)


def enrol_user(settings: NightlySettings, email: str, urns: list[int], *, secret: str | None = None,
               agreed: bool | str = False) -> str:
    """``add_user`` for any portal settings (e.g. a real run's home)."""
    from portal.models import AgreementAcceptance

    portal = settings.portal
    secret = secret or pyotp.random_base32(32)
    now = datetime.now(UTC)
    with ready(portal.database_url, portal.state_dir).begin() as db:
        user = User(email=email, name=email.split("@")[0], role="dsl", state="active",
                    password_hash=HASHER.hash(PASSWORD), created_at=now)
        user.schools = [UserSchool(urn=u, added_at=now) for u in urns]
        db.add(user)
        db.flush()
        db.add(Credential(user_id=user.id, kind="totp", sign_count=0, last_totp_step=0,
                          totp_secret=totp_cipher(portal.state_dir).encrypt(secret.encode()),
                          created_at=now))
        if agreed:
            version = agreed if isinstance(agreed, str) else portal.agreement_version
            db.add(AgreementAcceptance(user_id=user.id, version=version,
                                       text_sha256="x", accepted_at=now))
    return secret


def user_id(env: Env, email: str) -> int:
    with ready(env.settings.portal.database_url, env.settings.portal.state_dir)() as db:
        return int(db.scalar(select(User.id).where(User.email == email)) or 0)


CHROMIUM = "/usr/bin/chromium"


ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--no-first-run"]


@dataclass
class Served:
    env: Env
    url: str


@contextmanager
def serve_portal(tmp: Path, **extra: str) -> Iterator[Served]:
    """``databook``'s portal on a free port of 127.0.0.1, reached as ``localhost`` because
    WebAuthn needs a host name, not an IP address. ``extra``: more DATABOOK_ settings (e.g.
    the PostgreSQL database)."""
    with serve_portal_at(tmp, free_port(), **extra) as served:
        yield served


@contextmanager
def serve_portal_at(tmp: Path, port: int, **extra: str) -> Iterator[Served]:
    """``serve_portal`` on a port chosen beforehand (an OpenID provider must know the
    portal's address before it starts)."""
    url = f"http://localhost:{port}"
    env = make_env(tmp, base_url=url, **extra)
    environ = {k: v for k, v in os.environ.items() if not k.startswith("DATABOOK_")}
    environ |= env.environ() | {"DATABOOK_PORTAL_BASE_URL": url} | extra
    log = (env.home / "server.log").open("wb")
    server = subprocess.Popen([sys.executable, "-m", "uvicorn", "--factory", "portal.asgi:app",
                               "--host", "127.0.0.1", "--port", str(port)], env=environ,
                              stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + 60
    while True:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/signin", timeout=2).close()
            break
        except OSError:
            assert server.poll() is None, (env.home / "server.log").read_text()[-2000:]
            assert time.monotonic() < deadline, "the portal did not start"
            time.sleep(0.3)
    try:
        yield Served(env, url)
    finally:
        stop(server)
        log.close()


@contextmanager
def chromium() -> Iterator[Any]:
    """Debian's Chromium through Playwright (never Playwright's own browser download)."""
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI") == "true":
            pytest.fail("Chromium is required under CI (make test installs it as root)")
        pytest.skip("Chromium is not installed (make test installs it)")
    import playwright.sync_api as playwright_sync  # a dev dependency: always installed
    with playwright_sync.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            yield browser
        finally:
            browser.close()


AXE = Path(__file__).parent / "assets" / "axe.min.js"


TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]


WIDE, NARROW, REFLOW = 1280, 375, 320


@dataclass
class Auditor:
    """Checks page states and keeps their screenshots in ``folder`` (one PNG per width)."""

    folder: Path
    seen: list[str] = field(default_factory=list)

    def check(self, page: Any, name: str) -> None:
        assert re.fullmatch(r"[a-z0-9-]+", name) and name not in self.seen, name
        self.seen.append(name)
        page.wait_for_load_state("load")
        problems = []
        for width in (WIDE, NARROW):
            page.set_viewport_size({"width": width, "height": 900})
            problems += [f"{width}px: {v}" for v in violations(page)]
            page.screenshot(path=str(self.folder / f"{name}-{width}.png"), full_page=True)
        page.set_viewport_size({"width": REFLOW, "height": 640})
        scroll = page.evaluate("() => [document.documentElement.scrollWidth, "
                               "window.innerWidth]")
        page.set_viewport_size({"width": WIDE, "height": 900})
        assert not problems, f"{name} ({page.url}): " + "\n".join(problems)
        assert scroll[0] <= scroll[1], f"{name} scrolls sideways at {REFLOW}px: {scroll}"
        shown = page.inner_text("body")
        assert not re.search(r"\bNone\b", shown), f"{name} shows None: {shown[:3000]}"
        csp = [m for m in getattr(page, "csp_messages", []) if "Content Security Policy" in m
               or m.startswith("page error:")]
        assert not csp, f"{name}: {csp}"
        if hasattr(page, "csp_messages"):  # a portal page: GOV.UK's JavaScript ran, from a file
            assert page.evaluate("() => document.body.classList"
                                 ".contains('govuk-frontend-supported')"), name


def violations(page: Any) -> list[str]:
    """axe-core's violations on the page as it is now, one line each."""
    if not page.evaluate("() => typeof window.axe === 'object'"):
        page.evaluate(AXE.read_text("utf-8"))
    found = page.evaluate("""async (tags) => {
        const result = await axe.run(document, {runOnly: {type: "tag", values: tags},
                                                resultTypes: ["violations"]});
        return result.violations.map((v) => ({id: v.id, impact: v.impact, help: v.help,
            nodes: v.nodes.slice(0, 3).map((n) => n.target.join(" ") + ": " +
                                              n.failureSummary)}));
    }""", TAGS)
    return [json.dumps(v) for v in found]


def watch_csp(page: Any) -> Any:
    """Keep the page's console errors (where Chromium reports a CSP refusal) and script
    errors."""
    page.csp_messages = []
    page.on("console", lambda m: page.csp_messages.append(m.text) if m.type == "error"
            else None)
    page.on("pageerror", lambda e: page.csp_messages.append(f"page error: {e}"))
    return page


def focused(page: Any) -> dict[str, str]:
    """The focused element's tag, id, class and accessible text, to assert where focus is."""
    found: dict[str, str] = page.evaluate("""() => { const e = document.activeElement;
        return {tag: e.tagName.toLowerCase(), id: e.id || "", cls: e.className || "",
                text: (e.innerText || e.value || "").trim().slice(0, 200)}; }""")
    return found


def tab_to(page: Any, target: Any, limit: int = 80, key: str = "Tab") -> None:
    """Press Tab (only the keyboard) until ``target`` (a locator) has the focus."""
    for _ in range(limit):
        page.keyboard.press(key)
        if target.evaluate("(e) => e === document.activeElement"):
            return
    raise AssertionError(f"Tab never reached {target}; focus is on {focused(page)}")


#: Every route that is NOT a council page, by (method, path): sign-in, enrolment, the
#: school's own pages. A route added later that is on neither this list nor under /council
#: with the council check fails ``test_every_route_is_public_school_or_council_only``.
PUBLIC_OR_SCHOOL = frozenset({
    ("GET", "/signin"), ("POST", "/signin"), ("GET", "/signin/second"), ("GET", "/accessibility"),
    ("POST", "/signin/totp"), ("POST", "/signin/passkey/options"),
    ("POST", "/signin/passkey/verify"), ("POST", "/signout"),
    ("GET", "/enrol/factor"), ("GET", "/enrol/totp/setup"), ("POST", "/enrol/totp"),
    ("POST", "/enrol/confirm"),
    ("POST", "/enrol/passkey/options"), ("POST", "/enrol/passkey/verify"),
    ("GET", "/enrol/{token}"), ("POST", "/enrol/{token}"),
    ("GET", "/"), ("GET", "/agreement"), ("POST", "/agreement"),
    ("GET", "/schools/{urn}"), ("GET", "/schools/{urn}/receipts/{index}"),
    ("GET", "/schools/{urn}/download"), ("POST", "/schools/{urn}/download"),
    ("GET", "/schools/{urn}/lookup"), ("POST", "/schools/{urn}/lookup"),
    ("POST", "/schools/{urn}/lookup/refused"),
    ("GET", "/healthz"), ("GET", "/readyz"),
    ("GET", "/signed-out"), ("POST", "/session/extend"),
    ("GET", "/schools/{urn}/concern"), ("POST", "/schools/{urn}/concern"),
    ("GET", "/schools/{urn}/staff"), ("POST", "/schools/{urn}/staff/leaver"),
    ("GET", "/signin/council"), ("GET", "/signin/council/callback"),
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
    with ready(env.settings.portal.database_url, env.settings.portal.state_dir).begin() as db:
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
    with ready(env.settings.portal.database_url, env.settings.portal.state_dir)() as db:
        return [(u.email, u.role, u.state, tuple(s.urn for s in u.schools))
                for u in db.scalars(select(User).order_by(User.email))]


def user_count(env: Env) -> int:
    with ready(env.settings.portal.database_url, env.settings.portal.state_dir)() as db:
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


#: Every partner route: each calls ``partner_viewer`` or ``partner_downloader``.
PARTNER_ROUTES = frozenset({
    ("GET", "/partners/{partner_id}"), ("GET", "/partners/{partner_id}/download"),
    ("POST", "/partners/{partner_id}/download"),
    ("GET", "/partners/{partner_id}/concern"), ("POST", "/partners/{partner_id}/concern"),
})


PARTNER_PREFIX = "/partners"


NURSES, LAPSED = "school-nursing", "yot"


#: A pseudonym in the NURSES file (the manifests' form: 64 hex characters).
MEMBER = "ab" * 32


def register_partners(env: Env) -> None:
    """A partner whose agreement is current and one whose review date has passed."""
    today = date.today()
    a, b = sorted(SCHOOLS)[:2]
    with ready(env.settings.portal.database_url, env.settings.portal.state_dir).begin() as db:
        partner_store.save(db, [
            PartnerRecord(NURSES, "School Nursing Team", (a, b), ("upn", "name"),
                          today - timedelta(days=10), today + timedelta(days=300)),
            PartnerRecord(LAPSED, "Youth Offending Team", (a,), ("upn",),
                          today - timedelta(days=400), today - timedelta(days=1))])


def publish_with_partners(env: Env) -> tuple[str, dict[str, bytes]]:
    """A new run (``latest`` moves to it) with every school's file and both partners' files:
    a lapsed partner's file still in ``latest`` shows the download rule's own check."""
    files = [(f"{u}.xlsx", os.urandom(2048 + u % 89)) for u in SCHOOLS]
    files += [(f"partner-{p}.xlsx", os.urandom(3000 + len(p))) for p in (NURSES, LAPSED)]
    run_id = new_run_id()
    signing = Signing(env.key, None, {env.key.key_id: env.key.public_pem})  # type: ignore[arg-type]

    def manifest_for(written: dict[str, bytes], signing: Signing) -> bytes:
        schools = [manifest.entry_for(int(n[:-5]), "8881000", SCHOOLS[int(n[:-5])], n, data,
                                      [], 2) for n, data in written.items()
                   if not n.startswith("partner-")]
        partners = [{"partner_id": n[8:-5], "name": n[8:-5].title(), "file": n,
                     "bytes": len(data), "sha256": hashlib.sha256(data).hexdigest(),
                     "children": 2, "members": [MEMBER] if n[8:-5] == NURSES else []}
                    for n, data in written.items()
                    if n.startswith("partner-")]
        return manifest.build(run_id=run_id, as_at=date(2026, 11, 22),
                              generated_at=datetime.now(UTC), source_rows={},
                              signing_key_id=env.key.key_id, entries=schools,
                              extra={"partners": partners})

    write_run(LocalStore(env.drop), run_id, files, manifest_for, signing)  # type: ignore[arg-type]
    return run_id, dict(files)


def add_partner_user(env: Env, email: str, partner_id: str) -> str:
    """A fully enrolled partner user (password and TOTP), as ``users add --partner`` then
    enrolment leave them; returns the TOTP secret."""
    secret = add_user(env, email, [])
    with ready(env.settings.portal.database_url, env.settings.portal.state_dir).begin() as db:
        user = db.scalar(select(User).where(User.email == email))
        assert user is not None
        user.role = "partner"
        db.add(UserPartner(user_id=user.id, partner_id=partner_id, added_at=datetime.now(UTC)))
    return secret


def fill_partner(path: str, partner_id: str) -> str:
    return path.replace("{partner_id}", partner_id)


T0 = datetime(2026, 11, 23, 8, 30, tzinfo=UTC)


def fill_ledger(ledger: Ledger, count: int, checkpoints_at: tuple[int, ...] = (),
         start: datetime = T0) -> None:
    """``count`` entries, one transaction each, signing a checkpoint after each size listed."""
    with ledger.session() as db:
        for i in range(count):
            at = start + timedelta(minutes=i)
            if i % 3 == 0:
                log.append(db, "signin_ok", {"actor_id": 1 + i % 4,
                                             "actor_email": f"dsl{1 + i % 4}@school.example",
                                             "method": "totp"}, now=at)
            else:
                log.append(db, "download", {
                    "actor_id": 1 + i % 4, "actor_email": f"dsl{1 + i % 4}@school.example",
                    "urn": 112000 + i % 4, "run_id": "20261123T020000Z-abc123",
                    "file_sha256": "ab" * 32, "reason_code": "concern",
                    "reason_text": f"reason number {i}"}, now=at)
            db.commit()
            if i + 1 in checkpoints_at:
                log.checkpoint(db, ledger.config, force=True, now=at)
                db.commit()


def truncate(ledger: Ledger, keep: int = 5) -> None:
    """What an insider holding the portal host (its keys and its record of the last head
    signed) could do: delete the newest entries (and the stored nodes and checkpoints over
    them), forget the host's last head, and sign a fresh, shorter checkpoint."""
    (ledger.config.state_dir / sealing.HEAD_FILE).unlink(missing_ok=True)
    with ledger.session() as db:
        db.execute(delete(LedgerEntry).where(LedgerEntry.idx >= keep))
        db.execute(delete(LedgerCheckpoint))
        db.execute(delete(LedgerNode).where(LedgerNode.idx >= keep // 2))
        db.commit()
        log.checkpoint(db, ledger.config, force=True)
        db.commit()


FRAME_AS_AT = pd.Timestamp("2026-11-21")


def ts(value: str | None) -> Any:
    return pd.Timestamp(value) if value else pd.NaT


def periods(rows: list[dict[str, object]], columns: tuple[str, ...] = ()) -> pd.DataFrame:
    """Rows with person_id, start, end (ISO dates) and any extra columns; ids are numbered.
    ``columns`` names the columns of an empty frame."""
    frame = pd.DataFrame([{"id": i + 1, **row} for i, row in enumerate(rows)],
                         columns=None if rows else ["id", *columns])
    for col in ("start", "end", "date"):
        if col in frame:
            frame[col] = pd.to_datetime(frame[col]).astype("datetime64[us]")
    for col in ("id", "person_id", "worker_id", "period_id"):
        if col in frame:
            frame[col] = frame[col].astype("Int64")
    return frame


AS_AT = date(2026, 11, 21)


#: Prefect's temporary server migrates a new database on a cold PREFECT_HOME (~30 s on 2 cores,
#: against a 20 s default timeout): every test process and every child it starts waits longer.
STARTUP_TIMEOUT = {"PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "180"}


os.environ.setdefault(*next(iter(STARTUP_TIMEOUT.items())))


PG_SERVER = os.environ.get("DATABOOK_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


@dataclass(frozen=True)
class Council:
    case_path: Path
    roll_path: Path

    @property
    def case_url(self) -> str:
        return f"sqlite:///{self.case_path}"

    @property
    def roll_url(self) -> str:
        return f"sqlite:///{self.roll_path}"


def make_council(folder: Path, size: DemoSize) -> Council:
    council = Council(folder / "case.sqlite", folder / "roll.sqlite")
    generate(council.case_url, council.roll_url, size)
    return council


@dataclass(frozen=True)
class PrefectServer:
    """The session's long-running Prefect server: its API URL and its log file."""

    url: str
    log: Path


@dataclass(frozen=True)
class Run:
    home: Path
    folder: Path
    stdout: str
    stderr: str
    env: dict[str, str]


def databook(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "databook", *args], env=env, text=True,
                          capture_output=True, timeout=600, check=False)


PREFECT = str(Path(sys.executable).parent / "prefect")


REPO = Path(__file__).resolve().parents[1]
#: Run by Debian's python3 (with uno), not this one: LibreOffice reads a workbook back.
READER = Path(__file__).with_name("libreoffice_read.py")


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def stop(process: subprocess.Popen[bytes], timeout: float = 30) -> None:
    """Stop a server a test started in its own session, and everything it spawned."""
    import signal

    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    except ProcessLookupError:
        pass


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABOOK_", "PREFECT_"))}
    return env | {"PREFECT_SERVER_ANALYTICS_ENABLED": "false", **STARTUP_TIMEOUT} | extra


def csrf_of(page: str) -> str:
    found = CSRF.search(page)
    assert found, page[:500]
    return found.group(1)


def entries(env: Env, kind: str | None = None) -> list[dict[str, Any]]:
    with ready(env.settings.portal.database_url, env.settings.portal.state_dir)() as db:
        query = select(LedgerEntry.body).order_by(LedgerEntry.idx)
        if kind:
            query = query.where(LedgerEntry.kind == kind)
        return [json.loads(b) for b in db.scalars(query)]


def reason_texts(env: Env) -> list[str]:
    with ready(env.settings.portal.database_url, env.settings.portal.state_dir)() as db:
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


def register_tables(engine: Engine) -> None:
    """The portal's whole schema, made by its real migrations (0001, 0002, then ours)."""
    from portal.migrate import upgrade

    upgrade(engine.url.render_as_string(hide_password=False))


def add_register_user(engine: Engine, email: str, urn: int, role: str = "dsl",
             state: str = "active") -> int:
    """A named account at one school, as ``databook users add`` leaves it (no credentials)."""
    from datetime import UTC, datetime

    from sqlalchemy.orm import Session

    from portal.models import User, UserSchool

    now = datetime.now(UTC)
    with Session(engine) as s, s.begin():
        user = User(email=email, name="A Lead", role=role, state=state, created_at=now,
                    schools=[UserSchool(urn=urn, added_at=now)])
        s.add(user)
        s.flush()
        return user.id


@dataclass
class Ledger:
    config: LedgerConfig
    engine: Engine
    session: sessionmaker[Session]


def make_ledger(url: str, state: Path) -> Ledger:
    upgrade(url)
    engine = sealing.attach(engine_for(url), state)
    return Ledger(LedgerConfig(state, url), engine, session_factory(engine))


class _Hook(BaseHTTPRequestHandler):
    received: ClassVar[list[dict[str, object]]] = []

    def do_POST(self) -> None:
        length = int(self.headers["Content-Length"])
        self.received.append(json.loads(self.rfile.read(length)))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *_args: object) -> None:
        pass


DROP_SCHOOLS = pd.DataFrame({"urn": [100, 200], "dfe_number": ["830/1", "830/2"],
                             "name": ["A", "B"]})


SOURCE = {"DM_PERSONS": 3, "EDU_ENROLMENTS": 4}


def rows(*urns: int) -> pd.DataFrame:
    frame = pd.DataFrame({"urn": list(urns), "person_id": [1000 + i for i in range(len(urns))]})
    for key in KEYS:
        frame[key] = pd.NaT if "date" in key else "x"
    return frame


def run_info(day: int = 21) -> RunInfo:
    return RunInfo(new_run_id(), date(2026, 11, day), datetime.now(UTC), "SP", "0")


def route_problems(app: FastAPI) -> list[str]:
    """Each route that is neither on the public/school allow-list nor council-only."""
    found = []
    for method, path, route in routes(app):
        if method == "MOUNT":
            if path not in MOUNTS:
                found.append(f"mount {path}")
        elif path.startswith(COUNCIL_PREFIX):
            if not is_council_only(route):
                found.append(f"{method} {path} does not check the council role")
        elif path.startswith(PARTNER_PREFIX):  # tried in test_partner_access.py
            if (method, path) not in PARTNER_ROUTES or is_council_only(route):
                found.append(f"{method} {path} is not on the partner allow-list")
        elif (method, path) not in PUBLIC_OR_SCHOOL or is_council_only(route):
            found.append(f"{method} {path} is not on the public/school allow-list")
    return found


def sign_in_browser(page: Any, served: Served, email: str, secret: str) -> None:
    page.goto(f"{served.url}/signin")
    page.fill("#email", email)
    page.fill("#password", PASSWORD)
    page.click("form[action='/signin'] button")
    page.wait_for_url(f"{served.url}/signin/second")
    page.fill("#code", served.env.next_code(secret))
    page.click("form[action='/signin/totp'] button")
    page.wait_for_load_state()


def look(client: TestClient, token: str, urn: int = A, *, csrf: str | None = None,
         **body: str) -> Any:
    page = client.get(f"/schools/{urn}/lookup")
    header = json.loads(lookup_header(page.text)) if page.status_code == 200 else {}
    token_csrf = csrf if csrf is not None else csrf_of(page.text) if page.status_code == 200 \
        else ""
    payload = {"token": token, "reason": "concern", "run_id": header.get("run_id", "")} | body
    return client.post(f"/schools/{urn}/lookup", json=payload,
                       headers={"X-CSRF-Token": token_csrf})


def read_with_libreoffice(office: str, path: Path, password: str) -> dict[str, object]:
    done = subprocess.run(["/usr/bin/python3", str(READER), str(path), password, office],
                          capture_output=True, text=True, timeout=120, check=True)
    result: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def lookup_header(html: str) -> str:
    """The look-up page's public header (salt, iterations, check), as the browser reads it."""
    found = re.search(r'data-header="([^"]+)"', html)
    assert found, html[:500]
    return html_lib.unescape(found.group(1))


SSHD = "/usr/sbin/sshd"


@dataclass(frozen=True)
class Server:
    """A real OpenSSH server on 127.0.0.1 with an SFTP drop folder (``sshd``)."""

    url: str
    folder: Path
    key: str
    known_hosts: str


def _keygen(path: Path) -> None:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(path)], check=True)


@contextmanager
def sshd(home: Path) -> Iterator[Server]:
    """OpenSSH's sshd on a free port, its keys and config in ``home``: the client's key, the
    known hosts file naming the server's key, and the drop folder (``home/drop``)."""
    if not Path(SSHD).exists():
        if os.environ.get("CI") == "true":
            pytest.fail("openssh-server is required under CI (make test installs it as root)")
        pytest.skip("no OpenSSH server here: apt-get install openssh-server")
    _keygen(home / "host_key")
    _keygen(home / "client_key")
    shutil.copy(home / "client_key.pub", home / "authorized_keys")
    port = free_port()
    (home / "sshd_config").write_text(
        f"Port {port}\nListenAddress 127.0.0.1\nHostKey {home / 'host_key'}\n"
        f"PidFile {home / 'sshd.pid'}\nAuthorizedKeysFile {home / 'authorized_keys'}\n"
        "PasswordAuthentication no\nKbdInteractiveAuthentication no\nPubkeyAuthentication yes\n"
        "PermitRootLogin prohibit-password\nStrictModes no\nUsePAM no\n"
        "Subsystem sftp internal-sftp\nLogLevel ERROR\n")
    Path("/run/sshd").mkdir(exist_ok=True)
    daemon = subprocess.Popen([SSHD, "-D", "-e", "-f", str(home / "sshd_config")],
                              stderr=subprocess.PIPE, start_new_session=True)
    deadline = time.monotonic() + 20
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            break
        except OSError:
            assert daemon.poll() is None, daemon.stderr.read() if daemon.stderr else ""
            assert time.monotonic() < deadline, "sshd did not start"
            time.sleep(0.1)
    host_key = (home / "host_key.pub").read_text().split()[:2]
    (home / "known_hosts").write_text(f"[127.0.0.1]:{port} {' '.join(host_key)}\n")
    folder = home / "drop"
    user = os.environ.get("USER") or getpass.getuser()
    try:
        yield Server(f"sftp://{user}@127.0.0.1:{port}{folder}", folder,
                     str(home / "client_key"), str(home / "known_hosts"))
    finally:
        stop(daemon)


NGINX = "/usr/sbin/nginx"
SITE = REPO / "deploy" / "nginx" / "databook-portal.conf"


def certificate(folder: Path) -> tuple[Path, Path]:
    """A self-signed certificate for localhost (and 127.0.0.1)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([
                x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    key_path.chmod(0o600)
    return cert_path, key_path


def nginx_site(folder: Path, https: int, http: int, upstream: int) -> str:
    """The shipped site, on this test's ports, certificate and log; nothing else changed."""
    cert, key = certificate(folder)
    text = SITE.read_text()
    text = re.sub(r"^\s*listen \[::\].*\n", "", text, flags=re.M)  # no IPv6 assumed here
    text = text.replace("listen 443 ssl", f"listen 127.0.0.1:{https} ssl")
    text = text.replace("listen 80;", f"listen 127.0.0.1:{http};")
    text = text.replace("http://127.0.0.1:8000", f"http://127.0.0.1:{upstream}")
    text = re.sub(r"ssl_certificate .*;", f"ssl_certificate {cert};", text)
    text = re.sub(r"ssl_certificate_key .*;", f"ssl_certificate_key {key};", text)
    text = text.replace("/var/log/nginx/databook-portal.access.log",
                        str(folder / "access.log"))
    return text


def wait_for(check: object, what: str, process: subprocess.Popen[bytes], log: Path) -> None:
    """Call ``check`` until it stops raising (the process must stay up meanwhile)."""
    deadline = time.monotonic() + 60
    while True:
        try:
            check()  # type: ignore[operator]
            return
        except (OSError, httpx.HTTPError):
            assert process.poll() is None, log.read_text()[-2000:]
            assert time.monotonic() < deadline, f"{what} did not start"
            time.sleep(0.3)


def start_nginx(tmp_path: Path, https: int, http: int,
                 upstream: int) -> tuple[Path, subprocess.Popen[bytes], Path]:
    prefix = tmp_path / "nginx"
    for sub in ("logs", "temp"):
        (prefix / sub).mkdir(parents=True)
    (prefix / "site.conf").write_text(nginx_site(prefix, https, http, upstream))
    user = "user root;\n" if os.geteuid() == 0 else ""
    temp = prefix / "temp"
    (prefix / "nginx.conf").write_text(
        f"{user}daemon off;\nworker_processes 1;\npid {prefix / 'nginx.pid'};\n"
        f"error_log {prefix / 'logs' / 'error.log'} warn;\nevents {{ worker_connections 64; }}\n"
        "http {\n"
        f"  client_body_temp_path {temp}/body;\n  proxy_temp_path {temp}/proxy;\n"
        f"  fastcgi_temp_path {temp}/fastcgi;\n  uwsgi_temp_path {temp}/uwsgi;\n"
        f"  scgi_temp_path {temp}/scgi;\n"
        f"  access_log off;\n  include {prefix / 'site.conf'};\n}}\n")
    nginx_log = prefix / "logs" / "stderr.log"
    with nginx_log.open("wb") as out:
        checked = subprocess.run([NGINX, "-t", "-p", str(prefix), "-c",
                                  str(prefix / "nginx.conf")], capture_output=True, text=True,
                                 check=False)
        assert checked.returncode == 0, checked.stderr
        proxy = subprocess.Popen([NGINX, "-p", str(prefix), "-c", str(prefix / "nginx.conf")],
                                 stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    return prefix, proxy, nginx_log
