"""Look up one pupil in a real Chromium, against a real ``databook run`` drop and
``databook portal serve``: the DSL types the school password (WebCrypto derives the keys in
the page), looks up a pupil of their school and sees the row as in the workbook; a pupil of
another school is not found; a wrong password sends nothing; each look-up is one ledger entry
naming the row's pseudonym; a sealed row changed in transit is refused by the browser and the
refusal is in the ledger; no response, no file of the portal and no file of the drop holds a
pupil's name or UPN in the clear. And the page's derivation equals the nightly side's."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import pyotp
import pytest
from sqlalchemy import select

from databook.ledger.models import LedgerEntry
from flows.settings import load
from portal.migrate import ready
from publish import lookup_bundle as lb
from schemas.databook import COLUMNS, DATE_KEYS
from tests.e2e.test_real_run import _sign_protocol
from tests.support import (
    PASSWORD,
    REPO,
    Auditor,
    Run,
    chromium,
    databook,
    enrol_user,
    focused,
    free_port,
    open_encrypted,
    sheet_values,
    stop,
    tab_to,
)

pytestmark = pytest.mark.prefect


class Portal:
    def __init__(self, url: str, env: dict[str, str], folder: Path, state: Path) -> None:
        self.url, self.env, self.folder, self.state = url, env, folder, state
        self.settings = load(environ=env)

    def manifest(self) -> dict[str, Any]:
        document: dict[str, Any] = json.loads((self.folder / "manifest.json").read_bytes())
        return document

    def password(self, urn: int) -> str:
        reveal = databook("keys", "reveal", str(urn), env=self.env)
        assert reveal.returncode == 0, reveal.stderr
        return reveal.stdout.strip().splitlines()[-1]

    def rows(self, urn: int) -> list[tuple[object, ...]]:
        data = (self.folder / f"{urn}.xlsx").read_bytes()
        workbook, _ = open_encrypted(data, self.password(urn))
        return sheet_values(workbook, "Databook")[1:]

    def entries(self, *kinds: str) -> list[dict[str, Any]]:
        with ready(self.settings.portal.database_url)() as db:
            bodies = db.scalars(select(LedgerEntry.body).where(LedgerEntry.kind.in_(kinds))
                                .order_by(LedgerEntry.idx)).all()
        return [json.loads(bytes(b)) for b in bodies]


@pytest.fixture(scope="module")
def portal(run: Run, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Portal]:
    tmp = tmp_path_factory.mktemp("lookup-portal")
    port = free_port()
    url = f"http://localhost:{port}"
    env = run.env | {"DATABOOK_PORTAL_DATABASE_URL": f"sqlite:///{tmp / 'portal.sqlite'}",
                     "DATABOOK_PORTAL_STATE_DIR": str(tmp / "state"),
                     "DATABOOK_PORTAL_BASE_URL": url}
    public = databook("keys", "public", env=env)
    assert public.returncode == 0, public.stderr
    (tmp / "council.pem").write_text(public.stdout)
    assert databook("portal", "trust-key", str(tmp / "council.pem"), env=env).returncode == 0
    server = subprocess.Popen([sys.executable, "-m", "databook", "portal", "serve",
                               "--host", "127.0.0.1", "--port", str(port)],
                              env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              start_new_session=True)
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                if httpx.get(f"{url}/signin", timeout=5).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert server.poll() is None and time.monotonic() < deadline, "no portal"
            time.sleep(0.3)
        folder = run.home / "drop" / (run.home / "drop" / "latest").read_text().strip()
        yield Portal(url, env, folder, tmp)
    finally:
        stop(server)


@pytest.fixture(scope="module")
def browser(portal: Portal) -> Iterator[Any]:
    with chromium() as launched:
        yield launched


def _schools(portal: Portal) -> tuple[dict[str, Any], dict[str, Any]]:
    with_children = [s for s in portal.manifest()["schools"] if s["children"] > 0]
    return with_children[0], with_children[1]


def _signed_in(browser: Any, portal: Portal, email: str, urn: int, name: str) -> Any:
    secret = enrol_user(portal.settings, email, [urn], agreed=True)
    _sign_protocol(portal.settings, urn, name)
    page = browser.new_context().new_page()
    page.goto(f"{portal.url}/signin")
    page.fill("#email", email)
    page.fill("#password", PASSWORD)
    page.click("form[action='/signin'] button")
    page.wait_for_url(f"{portal.url}/signin/second")
    page.fill("#code", pyotp.TOTP(secret).now())
    page.click("form[action='/signin/totp'] button")
    page.wait_for_url(f"{portal.url}/schools/{urn}")
    return page


def _look_up(page: Any, upn: str = "", surname: str = "", dob: str = "") -> str:
    page.fill("#upn", upn)
    page.fill("#surname", surname)
    day, month, year = (dob.split("-")[::-1] if dob else ("", "", ""))
    page.fill("#dob-day", day)
    page.fill("#dob-month", month)
    page.fill("#dob-year", year)
    page.check("#reason-records")
    with page.expect_response(lambda r: r.request.method == "POST"):
        page.click("#look-up")
    page.wait_for_function("document.getElementById('lookup-message').textContent !== "
                           "'Looking up...'")
    return str(page.inner_text("#lookup-message"))


def _shown(row: tuple[object, ...]) -> list[tuple[str, str]]:
    """The row as the page labels and shows it: workbook headers, dates as dd/mm/yyyy."""
    out = []
    for column, value in zip(COLUMNS, row, strict=True):
        text = ("" if value is None else value.strftime("%d/%m/%Y")
                if isinstance(value, date) and column.key in DATE_KEYS else str(value))
        out.append((column.header, text))
    return out


@pytest.fixture(scope="module")
def auditor() -> Auditor:
    folder = Path(os.environ.get("DATABOOK_SCREENSHOTS", REPO / "build" / "screenshots"))
    folder = folder / "lookup"
    folder.mkdir(parents=True, exist_ok=True)
    return Auditor(folder)


def test_a_dsl_looks_up_a_pupil_and_only_sealed_data_and_tokens_cross_the_wire(
        portal: Portal, browser: Any, auditor: Auditor) -> None:
    """Every step and error of the look-up is also checked with axe-core (WCAG 2.2 AA) at
    1280 and 375 pixels and for reflow at 320, and the unlock and a look-up are done by
    keyboard alone."""
    school, other = _schools(portal)
    urn = int(school["urn"])
    page = _signed_in(browser, portal, "lou.lookup@real-run.example", urn, school["name"])
    bodies: list[bytes] = []
    posts: list[str] = []
    page.on("request", lambda r: posts.append(r.url) if r.method == "POST" else None)
    page.on("response", lambda r: bodies.append(r.body()) if r.status != 303 else None)

    page.click("#lookup-link")
    page.wait_for_url(f"{portal.url}/schools/{urn}/lookup")
    auditor.check(page, "lookup-password")
    page.fill("#school-password", portal.password(urn)[::-1])  # wrong: says so, sends nothing
    page.click("#unlock")
    page.wait_for_selector("#password-error:not([hidden])", timeout=30_000)
    assert "not your school's password" in page.inner_text("#password-error")
    assert posts == [] and page.is_hidden("#lookup-step")
    assert page.get_attribute("#school-password", "aria-invalid") == "true"
    assert focused(page)["id"] == "lookup-errors"  # the error summary takes focus
    assert "not your school's password" in page.inner_text("#lookup-errors")
    auditor.check(page, "lookup-password-error")

    page.fill("#school-password", "")  # by keyboard: to the field, type, Enter
    tab_to(page, page.locator("#school-password"))
    page.keyboard.type(portal.password(urn))
    page.keyboard.press("Enter")
    page.wait_for_selector("#lookup-step:not([hidden])", timeout=30_000)
    assert focused(page)["id"] == "lookup-step-heading"  # focus follows the step
    assert page.get_attribute("#school-password", "aria-invalid") is None
    auditor.check(page, "lookup-find")
    page.click("#look-up")  # every blank field gets its error at once; nothing is sent
    links = page.locator("#lookup-error-list a").all_inner_texts()
    assert links == ["Enter the pupil's UPN, or their surname and date of birth",
                     "Choose why you are looking this pupil up"], links
    assert focused(page)["id"] == "lookup-errors" and posts == []
    assert page.get_attribute("#upn", "aria-invalid") == "true"
    assert "upn-error" in str(page.get_attribute("#upn", "aria-describedby"))
    auditor.check(page, "lookup-errors-blank")
    page.fill("#surname", "Smith")
    page.fill("#dob-day", "31")
    page.fill("#dob-month", "2")
    page.fill("#dob-year", "2014")
    page.check("#reason-other")
    page.click("#look-up")
    assert page.locator("#lookup-error-list a").all_inner_texts() == [
        "Date of birth must be a real date in the past, such as 27 3 2014",
        "Say in a few words why you are looking this pupil up"]
    assert page.get_attribute("#dob-day", "aria-invalid") == "true" and posts == []
    assert page.is_visible("#reason_text")  # "Other" reveals its box
    auditor.check(page, "lookup-errors-date-and-other")
    for field in ("#surname", "#dob-day", "#dob-month", "#dob-year"):
        page.fill(field, "")
    page.check("#reason-concern")
    tab_to(page, page.locator("#upn"))  # a look-up by keyboard alone
    page.keyboard.type(str(portal.rows(urn)[0][0]))
    tab_to(page, page.locator("#reason-concern"))
    page.keyboard.press("ArrowDown")
    assert page.is_checked("#reason-conference")
    tab_to(page, page.get_by_role("button", name="Look up", exact=True))
    with page.expect_response(lambda r: r.request.method == "POST"):
        page.keyboard.press("Enter")
    page.wait_for_selector("#result:not([hidden])")
    assert focused(page)["id"] == "result-heading"
    auditor.check(page, "lookup-result")
    rows, others = portal.rows(urn), portal.rows(int(other["urn"]))
    pupil = rows[0]
    assert _look_up(page, upn=str(pupil[0]).lower()) == "Record found: it is shown below."
    assert focused(page)["id"] == "result-heading"  # focus moves to the result
    shown = [(th, td) for th, td in zip(page.locator("#result dt").all_inner_texts(),
                                        page.locator("#result dd").all_inner_texts(),
                                        strict=True)]
    assert shown == _shown(pupil)
    assert page.inner_text("#result-as-at") == "Data as at " + date.fromisoformat(
        portal.manifest()["as_at"]).strftime("%d/%m/%Y")
    surname = str(pupil[1]).split()[-1]
    dob = pupil[2].isoformat() if isinstance(pupil[2], date) else ""
    twins = [r for r in rows if str(r[1]).split()[-1] == surname and r[2] == pupil[2]]
    message = _look_up(page, surname=surname.upper(), dob=dob)
    assert message.startswith("Record found") if len(twins) == 1 else "More than one" in message
    stranger = others[0]
    assert "No pupil with that UPN" in _look_up(page, upn=str(stranger[0]))
    auditor.check(page, "lookup-not-found")

    entries = portal.entries("lookup")
    assert len(entries) == 4 and {e["urn"] for e in entries} == {urn}
    assert entries[0]["row"] in school["members"] and entries[3]["row"] == "none"
    assert entries[0]["reason_code"] == "conference"
    assert all(e["reason_code"] == "records" and e["run_id"] == portal.folder.name
               for e in entries[1:])

    secrets = {str(r[i]) for r in rows + others for i in (0, 1) if r[i]}
    found = 2 + (len(twins) == 1)  # the UPN's twice, and the surname's unless twins share it
    assert sum(b'"sealed"' in body for body in bodies) == found  # every response was seen
    assert any(b'id="school-password"' in body for body in bodies)
    for body in bodies:
        for secret in secrets:
            assert secret.encode() not in body, "a response holds a pupil's details"
    places = [p for p in (*portal.state.rglob("*"), *portal.folder.parent.rglob("*"))
              if p.is_file()]
    assert any(p.suffix == ".sqlite" for p in places)
    for path in places:
        data = path.read_bytes()
        for secret in secrets:
            assert secret.encode() not in data, f"{path.name} holds a pupil's details"
    page.context.close()


def test_a_sealed_row_changed_in_transit_is_refused_and_reported(portal: Portal,
                                                                  browser: Any) -> None:
    school, _ = _schools(portal)
    urn = int(school["urn"])
    page = _signed_in(browser, portal, "tam.pered@real-run.example", urn, school["name"])

    def flip(route: Any) -> None:
        response = route.fetch()
        answer = response.json()
        if answer.get("sealed"):
            raw = bytearray(base64.b64decode(answer["sealed"]))
            raw[-1] ^= 1
            answer["sealed"] = base64.b64encode(bytes(raw)).decode()
        route.fulfill(response=response, body=json.dumps(answer))

    page.goto(f"{portal.url}/schools/{urn}/lookup")
    page.route(f"{portal.url}/schools/{urn}/lookup", flip)
    page.fill("#school-password", portal.password(urn))
    page.click("#unlock")
    page.wait_for_selector("#lookup-step:not([hidden])", timeout=30_000)
    before = len(portal.entries("lookup_failed"))
    with page.expect_response(lambda r: r.url.endswith("/lookup/refused")):
        message = _look_up(page, upn=str(portal.rows(urn)[0][0]))
    assert "failed its integrity check" in message and page.is_hidden("#result")
    failed = portal.entries("lookup_failed")
    assert len(failed) == before + 1
    assert failed[-1]["row"] in school["members"] and failed[-1]["what"] == "bad_tag"
    page.context.close()


def test_another_childs_row_sent_for_the_one_asked_for_is_refused_and_reported(
        portal: Portal, browser: Any) -> None:
    """The portal chooses the sealed row: a row of another child of the same school opens as
    well as the right one (same key, its own row id), so the page compares what the row was
    sealed under with what was typed, shows nothing if they differ, and reports it."""
    school, _ = _schools(portal)
    urn = int(school["urn"])
    page = _signed_in(browser, portal, "wrong.child@real-run.example", urn, school["name"])
    rows = portal.rows(urn)
    other = next(r for r in rows[1:] if str(r[0]) != str(rows[0][0]))
    kept: dict[str, Any] = {}

    def swap(route: Any) -> None:
        response = route.fetch()
        answer = response.json()
        if answer.get("sealed") and "answer" not in kept:
            kept["answer"] = answer  # the first look-up's, the other child's, sent unchanged
        elif answer.get("sealed"):
            answer = kept["answer"]  # the second look-up gets the other child's row
        route.fulfill(response=response, body=json.dumps(answer))

    page.goto(f"{portal.url}/schools/{urn}/lookup")
    page.route(f"{portal.url}/schools/{urn}/lookup", swap)
    page.fill("#school-password", portal.password(urn))
    page.click("#unlock")
    page.wait_for_selector("#lookup-step:not([hidden])", timeout=30_000)
    assert "Record found" in _look_up(page, upn=str(other[0]))
    before = len(portal.entries("lookup_failed"))
    with page.expect_response(lambda r: r.url.endswith("/lookup/refused")):
        message = _look_up(page, upn=str(rows[0][0]))
    assert "not the pupil you asked for" in message and page.is_hidden("#result")
    assert str(other[1]) not in page.inner_text("body")
    failed = portal.entries("lookup_failed")
    assert len(failed) == before + 1
    assert failed[-1]["row"] == kept["answer"]["row_id"] and failed[-1]["what"] == "wrong_child"
    page.context.close()


def test_the_pages_derivation_equals_the_nightly_sides(portal: Portal, browser: Any) -> None:
    page = browser.new_context().new_page()
    page.goto(f"{portal.url}/signin")
    page.add_script_tag(url=f"{portal.url}/static/lookup.js")
    salt = bytes(range(16))
    key = lb.derive("correct horse battery", salt)
    got = page.evaluate("""async ([password, salt, words]) => {
        const L = window.DatabookLookup;
        const raw = await L.deriveBytes(password, salt, 600000);
        const hex = (b) => Array.from(new Uint8Array(b),
                                      (x) => x.toString(16).padStart(2, "0")).join("");
        const keys = await L.importKeys(raw);
        return {index: hex(raw.index), rows: hex(raw.rows), check: hex(raw.check),
                upn: await L.upnToken(keys, " a123-456789012"),
                name: await L.nameToken(keys, "O\u2019brien", "2015-03-02"),
                checkValue: await L.checkValue(keys, 100001, "20261203T060000.000000Z-abcdef"),
                words: words.map(L.normalise)};
    }""", ["correct horse battery", base64.b64encode(salt).decode(), WORDS])
    assert got == {"index": key.k_index.hex(), "rows": key.k_rows.hex(),
                   "check": key.k_check.hex(), "upn": lb.upn_token(key, "A123456789012"),
                   "name": lb.name_token(key, "O'Brien", "2015-03-02"),
                   "checkValue": lb.check_value(key, 100001, "20261203T060000.000000Z-abcdef"),
                   "words": [lb.normalise(w) for w in WORDS]}
    sealed = lb.seal(key, 100001, "r", "row1", b'{"rows":[["x"]]}')
    opened = page.evaluate("""async ([password, salt, sealed]) => {
        const L = window.DatabookLookup;
        const keys = await L.importKeys(await L.deriveBytes(password, salt, 600000));
        return L.openRow(keys, 100001, "r", "row1", sealed);
    }""", ["correct horse battery", base64.b64encode(salt).decode(), sealed])
    assert opened == {"rows": [["x"]]}
    page.context.close()


WORDS = ["O'Brien", "SMITH-JONES", "van der Berg", "Stra\u00dfe", "\u0130stanbul", "\ufb01nn",
         "\u039f\u0394\u039f\u03a3", "Mc\u2019Kay", "\u00c9lo\u00efse", "  a\u00a0b\tc  ",
         "\u01c4ukic", "\uff21\uff22"]


def test_without_javascript_the_page_says_so_and_shows_no_dead_form(portal: Portal,
                                                                    browser: Any) -> None:
    school, _ = _schools(portal)
    urn = int(school["urn"])
    page = _signed_in(browser, portal, "nora.script@real-run.example", urn, school["name"])
    cookies = page.context.cookies()
    quiet = browser.new_context(java_script_enabled=False)
    quiet.add_cookies(cookies)
    bare = quiet.new_page()
    bare.goto(f"{portal.url}/schools/{urn}/lookup")
    assert bare.is_visible("#no-script") and "needs JavaScript" in bare.inner_text("#no-script")
    assert bare.is_hidden("#lookup") and bare.is_hidden("#school-password")
    quiet.close()
    page.context.close()
