"""What the accessibility tests check on every page state, in a real Chromium: axe-core (the
pinned copy in tests/assets, built by portal/frontend/build.sh) with the WCAG 2.0, 2.1 and 2.2
A and AA rules; reflow at 320 CSS pixels (no horizontal scroll of the page: WCAG 1.4.10);
no Content Security Policy violation; no Python ``None`` shown; and a screenshot at 1280 and
at 375 pixels wide.

axe is run through DevTools (``page.evaluate``), which the page's CSP does not govern, so the
portal's CSP is tested as served (no 'unsafe-inline' was added for the test).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

AXE = Path(__file__).parents[1] / "assets" / "axe.min.js"
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
