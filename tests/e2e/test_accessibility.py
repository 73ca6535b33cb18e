"""WCAG 2.2 AA in a real Chromium: axe-core finds no violation on every page a DSL,
a deputy and a council officer can reach, including every error state; each reflows at 320
CSS pixels; the DSL's whole journey (sign in, second factor by TOTP, agreement, download with
a reason) is done with the keyboard alone; screenshots of each state at 1280 and 375 pixels
are kept in ``build/screenshots/accessibility`` (or $DATABOOK_SCREENSHOTS), a git-ignored
folder CI can keep as an artefact. Elements are found by role and accessible name."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from portal import accounts
from portal.events import COMMAND_LINE
from portal.migrate import ready
from portal.models import User
from tests.support import (
    NURSES,
    PASSWORD,
    REPO,
    Auditor,
    Env,
    Served,
    add_officer,
    add_partner_user,
    add_user,
    chromium,
    focused,
    publish_with_partners,
    register_partners,
    serve_portal,
    tab_to,
    watch_csp,
)

A, B = 100001, 100002
GOOD = "heron meadow copper 1987"
OFFICER = "olu.officer@council.example"
ROOT = REPO


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    with serve_portal(tmp_path_factory.mktemp("portal-a11y")) as portal:
        yield portal


@pytest.fixture(scope="module")
def browser(served: Served) -> Iterator[Any]:
    with chromium() as launched:
        yield launched


@pytest.fixture(scope="module")
def auditor() -> Auditor:
    folder = Path(os.environ.get("DATABOOK_SCREENSHOTS", ROOT / "build" / "screenshots"))
    folder = folder / "accessibility"
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("*.png"):
        old.unlink()
    return Auditor(folder)


def new_page(browser: Any) -> tuple[Any, Any]:
    context = browser.new_context(accept_downloads=True, viewport={"width": 1280, "height": 900})
    return context, watch_csp(context.new_page())


def link_for(env: Env, email: str, urn: int, role: str = "dsl") -> str:
    portal = env.settings.portal
    with ready(portal.database_url, portal.state_dir).begin() as db:
        _, link = accounts.add_user(db, portal, urn=urn, name="Test Lead", email=email,
                                    role=role, origin=COMMAND_LINE)
    assert link is not None
    return link.url


def submit(page: Any, name: str) -> None:
    page.get_by_role("button", name=name, exact=True).click()
    page.wait_for_load_state("load")


def password_step(page: Any, url: str, email: str, password: str = PASSWORD) -> None:
    page.goto(f"{url}/signin")
    page.get_by_label("Work email address").fill(email)
    page.get_by_label("Password", exact=True).fill(password)
    submit(page, "Continue")


def assert_error_focused(page: Any, says: str) -> None:
    """The error summary has the focus and names the problem; the field says it too."""
    page.wait_for_function("() => document.activeElement.classList"
                           ".contains('govuk-error-summary')")
    summary = page.get_by_role("alert")
    assert says in summary.inner_text()
    assert page.title().startswith("Error: ")
    link = summary.get_by_role("link").first
    target = page.locator(str(link.get_attribute("href")))
    described = str(target.get_attribute("aria-describedby") or
                    page.locator(f"fieldset:has({link.get_attribute('href')})")
                    .get_attribute("aria-describedby"))
    errors = [page.locator(f"#{i}").inner_text() for i in described.split() if
              i.endswith("-error")]
    assert any(says in e for e in errors), (described, errors)


def test_a_dsl_enrols_and_every_page_and_error_passes(served: Served, browser: Any,
                                                      auditor: Auditor) -> None:
    env, url = served.env, served.url
    context, page = new_page(browser)
    link = link_for(env, "dee.enrol@alder.example", A)
    page.goto(link)
    auditor.check(page, "enrol-password")
    page.get_by_label("New password").fill(GOOD)
    page.get_by_label("The same password again").fill(GOOD + "x")
    submit(page, "Set password")
    assert_error_focused(page, "not the same")
    auditor.check(page, "enrol-password-error-mismatch")
    page.get_by_label("New password").fill("short")
    page.get_by_label("The same password again").fill("short")
    submit(page, "Set password")
    auditor.check(page, "enrol-password-error-policy")
    page.get_by_label("New password").fill(GOOD)
    page.get_by_label("The same password again").fill(GOOD)
    submit(page, "Set password")
    page.wait_for_url(f"{url}/enrol/factor")
    auditor.check(page, "enrol-choose-factor")
    page.get_by_role("link", name="Use an authenticator app instead").click()
    page.wait_for_url(f"{url}/enrol/totp/setup")
    auditor.check(page, "enrol-totp")
    page.get_by_label("The 6-digit code the app shows now").fill("000000")
    submit(page, "Confirm")
    assert_error_focused(page, "not right")
    auditor.check(page, "enrol-totp-error")
    secret = page.locator("#secret").inner_text().strip()
    page.get_by_label("The 6-digit code the app shows now").fill(env.next_code(secret))
    submit(page, "Confirm")
    page.wait_for_url(f"{url}/agreement")
    auditor.check(page, "agreement")
    submit(page, "Accept")
    assert_error_focused(page, "Tick the box")
    auditor.check(page, "agreement-error")
    page.get_by_label("I have read this agreement and I accept it").check()
    submit(page, "Accept")
    page.wait_for_url(f"{url}/schools/{A}")
    auditor.check(page, "school-before-download")
    page.get_by_role("button", name="Download the databook").click()
    page.wait_for_url(f"{url}/schools/{A}/download")
    auditor.check(page, "download")
    submit(page, "Download")
    assert_error_focused(page, "Choose why")
    auditor.check(page, "download-error-no-reason")
    page.get_by_role("radio", name="Other (say why below)").check()
    submit(page, "Download")
    assert_error_focused(page, "Say in a few words")
    auditor.check(page, "download-error-other-needs-words")
    page.get_by_label("More detail").fill("Annual audit of our records")
    with page.expect_download():
        submit(page, "Download")
    page.wait_for_url(re.compile(rf".*/schools/{A}\?downloaded=\d+$"))
    auditor.check(page, "school-after-download")
    page.goto(f"{url}/agreement")
    auditor.check(page, "agreement-accepted")
    page.goto(f"{url}/accessibility")
    auditor.check(page, "accessibility-statement-signed-in")
    # refusals are pages too: another school's file, a page that does not exist, a used link
    assert page.goto(f"{url}/schools/{B}/download").status == 404
    auditor.check(page, "error-other-school")
    assert page.goto(f"{url}/no-such-page").status == 404
    auditor.check(page, "error-not-found")
    assert page.goto(link).status == 410
    auditor.check(page, "error-used-link")
    context.close()


def test_sign_in_pages_and_their_errors(served: Served, browser: Any,
                                        auditor: Auditor) -> None:
    env, url = served.env, served.url
    secret = add_user(env, "sia.signin@alder.example", [A, B], agreed=True)
    context, page = new_page(browser)
    page.goto(f"{url}/signin")
    auditor.check(page, "signin")
    page.get_by_text("I have forgotten my password").click()
    page.get_by_text("I have lost my phone, or my passkey no longer works").click()
    help_text = page.get_by_role("main").inner_text()
    assert help_text.count("databook users reset") == 2 and "Ring " not in help_text
    assert "Otherwise ring the council's information governance team" in help_text
    auditor.check(page, "signin-help-open")
    submit(page, "Continue")
    assert_error_focused(page, "Enter your work email address")
    auditor.check(page, "signin-error-empty")
    password_step(page, url, "sia.signin@alder.example", "not the password at all")
    assert_error_focused(page, "not right")
    assert page.get_by_label("Work email address").input_value() == "sia.signin@alder.example"
    auditor.check(page, "signin-error-wrong-password")
    password_step(page, url, "sia.signin@alder.example")
    page.wait_for_url(f"{url}/signin/second")
    main = page.get_by_role("main").inner_text()
    assert "Or the 6-digit code" not in main and "Or use your" not in main
    auditor.check(page, "second-step-totp-only")
    page.get_by_label("Code from your authenticator app").fill("000000")
    submit(page, "Sign in")
    assert_error_focused(page, "not right")
    auditor.check(page, "second-step-error")
    page.get_by_label("Code from your authenticator app").fill(env.next_code(secret))
    submit(page, "Sign in")
    page.wait_for_url(f"{url}/")
    auditor.check(page, "your-schools")
    page.goto(f"{url}/accessibility")
    context.close()
    context, page = new_page(browser)
    page.goto(f"{url}/accessibility")
    auditor.check(page, "accessibility-statement")
    context.close()
    # the lockout's message
    add_user(env, "max.locked@alder.example", [A], agreed=True)
    context, page = new_page(browser)
    for _ in range(10):
        password_step(page, url, "max.locked@alder.example", "not the password at all")
    password_step(page, url, "max.locked@alder.example")
    assert_error_focused(page, "locked")
    auditor.check(page, "signin-error-locked")
    context.close()


def test_the_access_ended_and_suspended_pages(served: Served, browser: Any,
                                              auditor: Auditor) -> None:
    """A leaver, and a colleague suspended as one, sign in with the right password: refused,
    told what happened and whom to contact, on pages that pass like every other."""
    env, url = served.env, served.url
    portal = env.settings.portal
    add_user(env, "lou.leaver@alder.example", [A], agreed=True)
    add_user(env, "sue.suspended@alder.example", [A], agreed=True)
    with ready(portal.database_url, portal.state_dir).begin() as db:
        accounts.leave(db, "lou.leaver@alder.example", "left in July", COMMAND_LINE)
        user = db.scalar(select(User).where(User.email == "sue.suspended@alder.example"))
        assert user is not None
        user.state = "suspended"
    context, page = new_page(browser)
    for email, heading, name in (("lou.leaver@alder.example", "Your access has ended",
                                  "access-ended"),
                                 ("sue.suspended@alder.example", "Your access is suspended",
                                  "access-suspended")):
        password_step(page, url, email)
        assert page.get_by_role("heading", level=1).inner_text() == heading
        assert page.url == f"{url}/signin" and page.locator("#contact").is_visible()
        auditor.check(page, name)
    context.close()


def test_the_passkey_pages(served: Served, browser: Any, auditor: Auditor) -> None:
    """Passkey first: enrol one (a virtual authenticator), then the second step with only the
    passkey, and with the passkey and the authenticator app as the alternative."""
    env, url = served.env, served.url
    context, page = new_page(browser)
    cdp = context.new_cdp_session(page)
    cdp.send("WebAuthn.enable")
    cdp.send("WebAuthn.addVirtualAuthenticator", {"options": {
        "protocol": "ctap2", "transport": "internal", "hasResidentKey": True,
        "hasUserVerification": True, "isUserVerified": True,
        "automaticPresenceSimulation": True}})
    page.goto(link_for(env, "pat.passkey@alder.example", A))
    page.get_by_label("New password").fill(GOOD)
    page.get_by_label("The same password again").fill(GOOD)
    submit(page, "Set password")
    page.wait_for_url(f"{url}/enrol/factor")
    page.get_by_role("button", name="Create a passkey").click()
    page.wait_for_url(f"{url}/agreement")
    page.get_by_label("I have read this agreement and I accept it").check()
    submit(page, "Accept")
    page.wait_for_url(f"{url}/schools/{A}")
    page.get_by_role("button", name="Sign out").click()
    password_step(page, url, "pat.passkey@alder.example", GOOD)
    page.wait_for_url(f"{url}/signin/second")
    assert page.get_by_label("Code from your authenticator app").count() == 0
    auditor.check(page, "second-step-passkey-only")
    add_totp(env, "pat.passkey@alder.example")
    page.reload()
    assert page.get_by_role("heading", name="Or use your authenticator app").is_visible()
    auditor.check(page, "second-step-passkey-or-app")
    page.get_by_role("button", name="Use my passkey").click()
    page.wait_for_url(f"{url}/schools/{A}")
    context.close()


def add_totp(env: Env, email: str) -> None:
    """A second credential, an authenticator app, for a user who has a passkey."""
    from datetime import UTC, datetime

    import pyotp

    from portal.models import Credential
    from portal.security.keys import totp_cipher

    portal = env.settings.portal
    with ready(portal.database_url, portal.state_dir).begin() as db:
        user = db.scalar(select(User).where(User.email == email))
        assert user is not None
        db.add(Credential(user_id=user.id, kind="totp", sign_count=0, last_totp_step=0,
                          totp_secret=totp_cipher(portal.state_dir).encrypt(
                              pyotp.random_base32(32).encode()),
                          created_at=datetime.now(UTC)))


def test_a_deputy_sees_the_same_accessible_pages(served: Served, browser: Any,
                                                 auditor: Auditor) -> None:
    env, url = served.env, served.url
    secret = add_user(env, "dan.deputy@birch.example", [B], agreed=True)
    with ready(env.settings.portal.database_url, env.settings.portal.state_dir).begin() as db:
        user = db.scalar(select(User).where(User.email == "dan.deputy@birch.example"))
        assert user is not None
        user.role = "deputy"
    context, page = new_page(browser)
    password_step(page, url, "dan.deputy@birch.example")
    page.get_by_label("Code from your authenticator app").fill(env.next_code(secret))
    submit(page, "Sign in")
    page.wait_for_url(f"{url}/schools/{B}")
    auditor.check(page, "deputy-school")
    page.goto(f"{url}/schools/{B}/download")
    auditor.check(page, "deputy-download")
    page.get_by_role("radio", name="Checking our own records").check()
    with page.expect_download():
        submit(page, "Download")
    page.wait_for_url(re.compile(rf".*/schools/{B}\?downloaded=\d+$"))
    auditor.check(page, "deputy-school-after-download")
    context.close()


def test_the_dsl_journey_by_keyboard_alone(served: Served, browser: Any) -> None:
    """Sign in, the TOTP code, the agreement, a download with a reason (first without one:
    the error summary takes the focus), with nothing but the keyboard."""
    env, url = served.env, served.url
    secret = add_user(env, "kay.keys@alder.example", [A])
    context, page = new_page(browser)
    page.goto(f"{url}/signin")
    page.keyboard.press("Tab")
    assert focused(page)["text"] == "Skip to main content"
    page.keyboard.press("Enter")
    assert focused(page)["id"] == "main-content"
    tab_to(page, page.get_by_label("Work email address"))
    page.keyboard.type("kay.keys@alder.example")
    page.keyboard.press("Tab")
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Enter")
    page.wait_for_url(f"{url}/signin/second")
    tab_to(page, page.get_by_label("Code from your authenticator app"))
    page.keyboard.type(env.next_code(secret))
    page.keyboard.press("Enter")
    page.wait_for_url(f"{url}/agreement")
    tab_to(page, page.get_by_label("I have read this agreement and I accept it"))
    page.keyboard.press("Space")
    tab_to(page, page.get_by_role("button", name="Accept"))
    page.keyboard.press("Enter")
    page.wait_for_url(f"{url}/schools/{A}")
    tab_to(page, page.get_by_role("button", name="Download the databook"))
    page.keyboard.press("Enter")
    page.wait_for_url(f"{url}/schools/{A}/download")
    tab_to(page, page.get_by_role("button", name="Download", exact=True))
    page.keyboard.press("Enter")
    page.wait_for_function("() => document.activeElement.classList"
                           ".contains('govuk-error-summary')")
    tab_to(page, page.get_by_role("link", name="Choose why you are downloading the databook "
                                               "today."))
    page.keyboard.press("Enter")  # the summary's link takes the focus to the first reason
    page.wait_for_function("() => document.activeElement.type === 'radio'")
    page.keyboard.press("ArrowDown")  # the second reason
    assert page.get_by_role("radio", name="A child protection conference or core group"
                            ).is_checked()
    tab_to(page, page.get_by_role("button", name="Download", exact=True))
    with page.expect_download() as caught:
        page.keyboard.press("Enter")
    assert Path(caught.value.path()).read_bytes() == \
        (env.drop / env.run_id / f"{A}.xlsx").read_bytes()
    page.wait_for_url(re.compile(rf".*/schools/{A}\?downloaded=\d+$"))
    banner = page.get_by_role("alert")
    assert "Your download has started" in banner.inner_text()
    tab_to(page, banner.get_by_role("link", name="save the receipt for this download"))
    context.close()


def test_every_council_page_and_error_passes(served: Served, browser: Any,
                                             auditor: Auditor) -> None:
    env, url = served.env, served.url
    secret = add_officer(env, OFFICER)
    context, page = new_page(browser)
    password_step(page, url, OFFICER)
    page.get_by_label("Code from your authenticator app").fill(env.next_code(secret))
    submit(page, "Sign in")
    page.wait_for_url(f"{url}/council")
    auditor.check(page, "council-schools")
    menu = page.get_by_role("navigation", name="Menu")
    for name, slug in (("Escalation", "escalation"), ("Users", "users"), ("Partners", "partners"),
                       ("DSL confirmations", "confirmations"), ("Downloads", "downloads"),
                       ("Usage by month", "usage"), ("Irregular access", "irregular"),
                       ("Child look-up", "child")):
        menu.get_by_role("link", name=name, exact=True).click()
        page.wait_for_load_state("load")
        current = menu.get_by_role("link", name=name, exact=True)
        assert current.get_attribute("aria-current") == "page"
        auditor.check(page, f"council-{slug}")
    assert "None" not in page.goto(f"{url}/council/audit/irregular").text()
    page.goto(f"{url}/council")
    page.get_by_role("link", name=str(A), exact=True).click()
    page.wait_for_url(f"{url}/council/schools/{A}")
    auditor.check(page, "council-school")
    page.goto(f"{url}/council?q=birch&show=nobody")
    auditor.check(page, "council-schools-searched")
    page.goto(f"{url}/council/users?q=nobody-matches")
    auditor.check(page, "council-users-searched-none")
    # each form's bad input: the same page, the value kept, the error by its field, a 400
    page.goto(f"{url}/council/users")
    users = page.get_by_role("main")
    page.locator("#add").get_by_label("School URN").fill("12x")
    page.locator("#add").get_by_label("Name").fill("Ada Lead")
    with page.expect_response(lambda r: r.url.endswith("/users/add")) as answer:
        page.locator("#add").get_by_role("button", name="Add").click()
    assert answer.value.status == 400
    assert_error_focused(page, "A URN is a whole number")
    assert page.locator("#add").get_by_label("Name").input_value() == "Ada Lead"
    assert page.get_by_role("navigation", name="Menu").is_visible()
    auditor.check(page, "council-users-error-add")
    page.locator("#leave").get_by_role("button", name="Remove access").click()
    assert_error_focused(page, "Enter the person's email address")
    assert page.locator("#leave-reason-error").is_visible()  # every blank field at once
    auditor.check(page, "council-users-error-leave")
    page.locator("#reset").get_by_label("Email address").fill("nobody@alder.example")
    page.locator("#reset").get_by_role("button", name="Make a reset link").click()
    assert_error_focused(page, "no portal user")
    auditor.check(page, "council-users-error-reset")
    page.goto(f"{url}/council/users?school=abc")
    assert_error_focused(page, "A URN is a whole number")
    auditor.check(page, "council-users-error-filter")
    assert users is not None
    page.goto(f"{url}/council/confirmations")
    page.locator("#confirm").get_by_label("School URN").fill(str(A))
    page.locator("#confirm").get_by_label("DSL's email address").fill("nobody@alder.example")
    page.locator("#confirm").get_by_label("Who at the school confirmed").fill("Head")
    page.locator("#confirm").get_by_role("button", name="Record confirmation").click()
    assert_error_focused(page, "not a named DSL")
    assert page.locator("#confirm").get_by_label("Who at the school confirmed"
                                                 ).input_value() == "Head"
    auditor.check(page, "council-confirmations-error-confirm")
    page.locator("#round").get_by_label("Only school (URN)").fill("x1")
    page.locator("#round").get_by_role("button", name="Ask schools to confirm").click()
    assert_error_focused(page, "A URN is a whole number")
    auditor.check(page, "council-confirmations-error-round")
    page.goto(f"{url}/council/audit/downloads?since=21/11/2026&school={A}")
    assert_error_focused(page, "Enter the date like")
    assert page.get_by_label("School URN").input_value() == str(A)
    auditor.check(page, "council-downloads-error-filter")
    page.goto(f"{url}/council/audit/child")
    page.get_by_label("Pseudonym").fill("not a pseudonym")
    submit(page, "Look up")
    assert_error_focused(page, "A pseudonym is 64 characters")
    auditor.check(page, "council-child-error")
    page.get_by_label("Pseudonym").fill("a" * 64)
    submit(page, "Look up")
    auditor.check(page, "council-child-searched")
    # the pages after a change: a new DSL's link, a leaver, a confirmation round
    page.goto(f"{url}/council/users")
    form = page.locator("#add")
    form.get_by_label("School URN").fill(str(B))
    form.get_by_label("Name").fill("Ada Lead")
    form.get_by_label("Work email address").fill("ada.lead@birch.example")
    form.get_by_role("button", name="Add").click()
    page.wait_for_load_state("load")
    auditor.check(page, "council-user-added")
    page.goto(f"{url}/council/users")
    form = page.locator("#leave")
    form.get_by_label("Email address").fill("ada.lead@birch.example")
    form.get_by_label("Reason").fill("left the school")
    form.get_by_role("button", name="Remove access").click()
    page.wait_for_load_state("load")
    auditor.check(page, "council-user-leave-confirm")
    page.get_by_role("button", name="Remove access now").click()
    page.wait_for_load_state("load")
    auditor.check(page, "council-user-left")
    page.goto(f"{url}/council/confirmations")
    page.locator("#round").get_by_role("button", name="Ask schools to confirm").click()
    page.wait_for_load_state("load")
    auditor.check(page, "council-round-started")
    context.close()


def test_the_timeout_warning_and_the_signed_out_page(served: Served, browser: Any,
                                                     auditor: Auditor) -> None:
    """The GOV.UK/HMRC timeout pattern: a modal dialog (focus inside it, Enter or Escape
    stays signed in and gives the focus back), then "You have been signed out"."""
    env, url = served.env, served.url
    secret = add_user(env, "tim.timeout@alder.example", [A], agreed=True)
    context, page = new_page(browser)
    password_step(page, url, "tim.timeout@alder.example")
    page.get_by_label("Code from your authenticator app").fill(env.next_code(secret))
    submit(page, "Sign in")
    page.wait_for_url(f"{url}/schools/{A}")
    dialog = page.get_by_role("dialog", name="You're about to be signed out")
    assert not dialog.is_visible()
    page.get_by_role("button", name="Download the databook").focus()
    page.evaluate("() => window.DatabookTimeout.warn()")
    assert dialog.is_visible() and focused(page)["id"] == "timeout-stay"
    assert "2 minutes" in dialog.inner_text() or "1 minute" in dialog.inner_text()
    auditor.check(page, "timeout-warning")
    with page.expect_response(lambda r: r.url.endswith("/session/extend")) as kept:
        page.keyboard.press("Enter")
    assert kept.value.status == 200
    page.wait_for_function("() => !document.getElementById('timeout-warning').open")
    assert focused(page)["text"] == "Download the databook"  # the focus comes back
    page.evaluate("() => window.DatabookTimeout.warn()")
    with page.expect_response(lambda r: r.url.endswith("/session/extend")):
        page.keyboard.press("Escape")  # Escape stays signed in too
    page.wait_for_function("() => !document.getElementById('timeout-warning').open")
    page.evaluate("() => window.DatabookTimeout.expire()")
    page.wait_for_url(f"{url}/signed-out")
    assert "You have been signed out" in page.get_by_role("main").inner_text()
    auditor.check(page, "signed-out")
    page.goto(f"{url}/schools/{A}")
    page.wait_for_url(re.compile(r".*/signin.*"))  # the session really ended
    context.close()


def test_the_pages_when_the_databook_cannot_be_served(served: Served, browser: Any,
                                                      auditor: Auditor) -> None:
    """The error states of the drop, last in this module (they break its files): a school
    with no databook, a file that fails its check, a manifest that fails its signature."""
    env, url = served.env, served.url
    none_yet = 100009
    secret = add_user(env, "una.unserved@alder.example", [A, none_yet], agreed=True)
    context, page = new_page(browser)
    password_step(page, url, "una.unserved@alder.example")
    page.get_by_label("Code from your authenticator app").fill(env.next_code(secret))
    submit(page, "Sign in")
    page.wait_for_url(f"{url}/")
    page.get_by_role("link", name=f"School {none_yet}").click()
    page.wait_for_load_state("load")
    assert "There is no databook for your school yet" in page.get_by_role("main").inner_text()
    auditor.check(page, "school-without-a-databook")
    assert page.goto(f"{url}/schools/{none_yet}/download").status == 404
    auditor.check(page, "download-without-a-databook")
    page.goto(f"{url}/schools/{A}/download")
    page.get_by_role("radio", name="Checking our own records").check()
    (env.drop / env.run_id / f"{A}.xlsx").write_bytes(b"not what was published")
    submit(page, "Download")
    page.wait_for_function("() => document.title.startsWith('Sorry')")
    assert "cannot be served just now" in page.get_by_role("main").inner_text()
    auditor.check(page, "download-refused-file-fails-its-check")
    manifest = env.drop / env.run_id / "manifest.json"
    manifest.write_bytes(manifest.read_bytes().replace(b'"as_at"', b'"as_at" ', 1))
    page.goto(f"{url}/schools/{A}")
    assert "cannot be checked just now" in page.get_by_role("main").inner_text()
    auditor.check(page, "school-databook-cannot-be-checked")
    context.close()


def test_the_checks_fail_on_a_page_that_breaks_them(browser: Any, tmp_path: Path) -> None:
    """The auditor is not a test that cannot fail: an image without a text alternative and a
    page without a language fail axe; a wide element fails the 320-pixel reflow."""
    context = browser.new_context()
    page = context.new_page()
    auditor = Auditor(tmp_path)
    page.set_content("<html><head><title>t</title></head><body><main><h1>x</h1>"
                     "<img src='data:,'></main></body></html>")
    with pytest.raises(AssertionError, match="image-alt"):
        auditor.check(page, "broken-axe")
    page.set_content("<html lang='en'><head><title>t</title></head><body><main><h1>x</h1>"
                     "<p style='width:600px'>wide</p></main></body></html>")
    with pytest.raises(AssertionError, match="scrolls sideways at 320px"):
        auditor.check(page, "broken-reflow")
    context.close()


def test_a_partner_users_pages_and_journey_by_keyboard(served: Served, browser: Any,
                                                       auditor: Auditor) -> None:
    """A partner user's own pages (last: it publishes a new run with partners' files): their
    own agreement, home, download form, its errors and the success banner, by keyboard."""
    env, url = served.env, served.url
    register_partners(env)
    publish_with_partners(env)
    secret = add_partner_user(env, "nia.nurse@nhs.example", NURSES)
    context, page = new_page(browser)
    password_step(page, url, "nia.nurse@nhs.example")
    page.get_by_label("Code from your authenticator app").fill(env.next_code(secret))
    submit(page, "Sign in")
    page.wait_for_url(f"{url}/agreement")
    assert "partner organisations" in page.get_by_role("main").inner_text()
    auditor.check(page, "partner-agreement")
    tab_to(page, page.get_by_label("I have read this agreement and I accept it"))
    page.keyboard.press("Space")
    tab_to(page, page.get_by_role("button", name="Accept"))
    page.keyboard.press("Enter")
    page.wait_for_url(f"{url}/partners/{NURSES}")
    assert page.get_by_role("link", name="Your organisation").is_visible()
    auditor.check(page, "partner-home")
    tab_to(page, page.get_by_role("button", name="Download the databook"))
    page.keyboard.press("Enter")
    page.wait_for_url(f"{url}/partners/{NURSES}/download")
    auditor.check(page, "partner-download")
    tab_to(page, page.get_by_role("button", name="Download", exact=True))
    page.keyboard.press("Enter")
    page.wait_for_function("() => document.activeElement.classList"
                           ".contains('govuk-error-summary')")
    auditor.check(page, "partner-download-error")
    page.keyboard.press("Tab")
    page.keyboard.press("Enter")  # the summary's link: the first reason
    page.wait_for_function("() => document.activeElement.type === 'radio'")
    page.keyboard.press("ArrowDown")
    assert page.get_by_role("radio", name="A referral or assessment about a child in our "
                            "cohort").is_checked()
    tab_to(page, page.get_by_role("button", name="Download", exact=True))
    with page.expect_download():
        page.keyboard.press("Enter")
    page.wait_for_url(re.compile(rf".*/partners/{NURSES}\?downloaded=\d+$"))
    main = page.get_by_role("main").inner_text()
    assert "Your download has started" in main and "There is a problem" not in main
    auditor.check(page, "partner-after-download")
    context.close()
