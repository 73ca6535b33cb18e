"""The committed front end: built from exactly pinned versions by
``portal/frontend/build.sh``, GOV.UK Frontend 6 without GOV.UK's font or images, and pages
that need no inline script or style (the CSP allows neither)."""

from __future__ import annotations

import json
import re

from fastapi.testclient import TestClient

from portal.app import create_app
from portal.security.headers import CSP
from tests.support import REPO, Env

ROOT = REPO
FRONTEND = ROOT / "portal" / "frontend"
STATIC = ROOT / "portal" / "static"
TEMPLATES = ROOT / "portal" / "templates"


def locked() -> dict[str, str]:
    packages = json.loads((FRONTEND / "package-lock.json").read_text())["packages"]
    return {name: packages[f"node_modules/{name}"]["version"]
            for name in ("govuk-frontend", "axe-core", "sass")}


def test_versions_are_pinned_exactly_and_the_built_files_are_theirs() -> None:
    wanted = json.loads((FRONTEND / "package.json").read_text())["devDependencies"]
    assert all(re.fullmatch(r"\d+\.\d+\.\d+", v) for v in wanted.values()), wanted
    assert locked() == wanted
    assert wanted["govuk-frontend"].startswith("6.")
    built = dict(line.split() for line in (STATIC / "govuk" / "VERSIONS.txt").read_text()
                 .splitlines())
    assert built == wanted
    script = (STATIC / "govuk" / "govuk-frontend.min.js").read_text()
    assert script.startswith(f'const version="{wanted["govuk-frontend"]}"')
    axe = (ROOT / "tests" / "assets" / "axe.min.js").read_text()
    assert axe.startswith(f"/*! axe v{wanted['axe-core']}\n")


def test_no_gds_transport_font_and_no_govuk_images() -> None:
    css = (STATIC / "govuk" / "govuk-frontend.min.css").read_text()
    assert "GDS Transport" not in css and "@font-face" not in css
    assert "font-family:system-ui" in css
    assert not (STATIC / "govuk" / "assets").exists()
    pages = re.sub(r"\{#.*?#\}", "", "".join(p.read_text() for p in TEMPLATES.rglob("*.html")),
                   flags=re.S)  # what a page shows, not the templates' comments
    assert "govuk-header__logotype" not in pages and "crown" not in pages.lower()
    assert "GOV.UK" not in pages


def test_templates_have_no_inline_script_or_style() -> None:
    for page in TEMPLATES.rglob("*.html"):
        text = page.read_text()
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", text), page
        assert not re.search(r"\sstyle=", text) and "<style" not in text, page
        assert not re.search(r"\son[a-z]+=", text), page  # no event-handler attributes


def test_pages_are_served_with_the_csp_and_govuk_starts_from_a_file(env: Env) -> None:
    assert "unsafe-inline" not in CSP and "script-src 'self'" in CSP
    with TestClient(create_app(env.settings), base_url="https://testserver") as client:
        page = client.get("/signin")
        assert page.headers["content-security-policy"] == CSP
        assert '<script type="module" src="/static/govuk-init.js"></script>' in page.text
        init = client.get("/static/govuk-init.js")
        assert init.status_code == 200 and "javascript" in init.headers["content-type"]
        assert 'classList.add("govuk-frontend-supported")' in init.text
        assert client.get("/static/govuk/govuk-frontend.min.js").status_code == 200
        statement = client.get("/accessibility")
        assert statement.status_code == 200 and "WCAG" in statement.text
        assert 'href="/accessibility"' in page.text
