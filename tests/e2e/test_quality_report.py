"""The run's data-quality report in a real Chromium: built from a real database of runs with
30 runs of history, it has no axe-core violation (WCAG 2.2 AA) at 1280 and 375 px, does not
scroll sideways at 320 px, draws its trends as SVG images with a title, a description and a
data table each, puts a child possibly missing before a malformed UPN, and prints."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from quality import history, report
from tests.support import REPO, Auditor, chromium

START = datetime(2026, 10, 1, 2, 0, tzinfo=UTC)
BAD_UPN = "=cmd|' /C calc'!A0"


def frame(rows: list[tuple[Any, ...]]) -> pd.DataFrame:
    out = pd.DataFrame(rows, columns=["rule", "table", "record_id", "person_id", "upn"])
    for c in ("record_id", "person_id"):
        out[c] = out[c].astype("Int64")
    out["upn"] = out["upn"].astype("string")
    return out


def night(n: int) -> pd.DataFrame:
    """Findings that drift over the month: missing children fall, UPNs to tidy rise."""
    rows: list[tuple[Any, ...]] = []
    rows += [("open-case-not-on-roll", "DM_PERSONS", p, p, None) for p in range(1000, 1030 - n)]
    rows += [("malformed-upn", "DM_PERSONS", p, p, BAD_UPN) for p in range(2000, 2005 + n)]
    rows += [("missing-date-of-birth", "DM_PERSONS", 3000 + n, 3000 + n, None)]
    if n == 29:
        rows += [("duplicate-key", "DM_PERSONS.PERSON_ID", 4000, 4000, None),
                 ("<script>alert(1)</script>", "DM_PERSONS", 5000, 5000, None)]
    return frame(rows)


@pytest.fixture(scope="module")
def page_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("report")
    engine = history.open_history(f"sqlite:///{home / 'runs.sqlite'}")
    record: dict[str, Any] = {}
    for n in range(30):
        when = START + timedelta(days=n)
        record = {"run_id": when.strftime("%Y%m%dT%H%M%S.000000Z-") + f"{n:06x}",
                  "as_at": when.date().isoformat(), "started_at": when.isoformat(),
                  "status": "blocked" if n == 29 else "published",
                  "source_rows": {"DM_PERSONS": 50_000 + 10 * n, "EDU_SCHOOLS": 600,
                                  "EDU_ENROLMENTS": 250_000 - n},
                  "summary": {"children": 9000 + n, "cp_current": 400 - n, "schools": 600}}
        history.record_run(engine, record, night(n))
    history.accept(engine, "malformed-upn", "2000", "UPN issued abroad")
    record |= {"error": "publishing blocked: 1 blocking expectation(s) failed",
               "validation": {
                   "expectations": 80,
                   "blocking_failures": ["findings: expect_column_values_to_be_between("
                                         "duplicate-key)"],
                   "warnings": ["source.DM_PERSONS: expect_column_values_to_not_be_null("
                                "DATE_OF_BIRTH)"],
                   "unexpected": {"source.DM_PERSONS: expect_column_values_to_not_be_null("
                                  "DATE_OF_BIRTH)": 1},
                   "drift": ["no previous run to compare with"]}}
    folder = home / "runs" / record["run_id"]
    folder.mkdir(parents=True)
    docs = folder / "gx" / "index.html"
    docs.parent.mkdir()
    docs.write_text("<!doctype html><title>Data Docs</title>")
    tonight = report.from_history(engine, record["run_id"])
    engine.dispose()
    return report.write(folder, record, night(29), docs, tonight)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with chromium() as launched:
        yield launched


def test_the_report_is_accessible_reflows_and_prints(page_path: Path, browser: Any) -> None:
    folder = Path(os.environ.get("DATABOOK_SCREENSHOTS", REPO / "build" / "screenshots"))
    auditor = Auditor(folder / "data-quality")
    auditor.folder.mkdir(parents=True, exist_ok=True)
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.goto(page_path.as_uri())
    auditor.check(page, "data-quality-report")  # axe at 1280 and 375, no sideways scroll at 320

    headline = page.locator("#tonight + ul").inner_text()
    assert "4\nnew tonight" in headline and "2\nresolved tonight" in headline
    assert "1\naccepted" in headline and "2\nblocking" in headline  # a finding and a check
    sections = page.locator("section.rule h4").all_inner_texts()
    assert sections.index("duplicate-key (blocks publishing)") < sections.index(
        "open-case-not-on-roll") < sections.index("malformed-upn")
    warning = page.get_by_role("table", name="Warnings").locator("tbody tr").first
    assert "Some people have no date of birth" in warning.inner_text()
    assert "DM_PERSONS 3029" in warning.inner_text()  # example ids from the findings
    assert "<script>" in page.locator("main").inner_text()  # shown as text, never run

    charts = page.get_by_role("img")
    assert charts.count() == 3
    for i in range(3):
        svg = charts.nth(i)
        labelled = str(svg.get_attribute("aria-labelledby")).split()
        title, desc = (page.locator(f"[id='{x}']") for x in labelled)
        assert title.text_content() and "Over the last 30 run(s)" in str(desc.text_content())
    rules = page.get_by_role("table", name="Findings by rule: the numbers, newest run first")
    assert rules.locator("tbody tr").count() == 30
    assert rules.locator("th[scope=col]").count() >= 4
    assert rules.locator("tbody th[scope=row]").count() == 30
    assert "open-case-not-on-roll down from 30 to 1" in str(page.locator(
        "#trend-rules-desc").text_content())

    link = page.get_by_role("link", name="Great Expectations Data Docs")
    assert link.get_attribute("href") == "gx/index.html"

    page.emulate_media(media="print")
    page.set_viewport_size({"width": 700, "height": 900})
    assert page.evaluate("() => document.documentElement.scrollWidth") <= 700
    pdf = page.pdf(format="A4")
    assert pdf.startswith(b"%PDF") and len(pdf) > 10_000
    context.close()
