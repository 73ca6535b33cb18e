"""The protective marking: every sheet's print header and footer, the About sheet, the core and
custom document properties, and printing fitted to the page width; for school and partner
workbooks, read back from the decrypted file (and by LibreOffice in the integration test)."""

from __future__ import annotations

import io
import zipfile
from dataclasses import replace
from datetime import UTC, date, datetime
from pathlib import Path
from xml.etree import ElementTree

import pytest
from openpyxl import load_workbook

from flows.settings import SettingsError, load
from publish.encrypt import encrypt
from publish.partners import partner_files
from publish.partners import render as render_partner
from publish.workbook import RunInfo, School, render
from schemas.partners import PartnerRecord
from tests.support import open_encrypted, read_with_libreoffice, sheet_values

RUN = RunInfo("20261121T020000.000000Z-abc123", date(2026, 11, 21),
              datetime(2026, 11, 21, 2, 0, tzinfo=UTC), "Starting Point", "01629 533190")
SCHOOL = School(112000, "830/2000", "North School")
PARTNER = PartnerRecord("nurses", "School Nursing", (112000,), ("upn",), date(2026, 1, 1),
                        date(2027, 1, 1))
CUSTOM = "{http://schemas.openxmlformats.org/officeDocument/2006/custom-properties}property"


def _partner(run: RunInfo) -> bytes:
    (item,) = partner_files([], [], [], {112000: "North School"}, [PARTNER], {"nurses": "pw"})
    return render_partner(item, run)


def _check(plain: bytes, marking: str) -> None:
    wb = load_workbook(io.BytesIO(plain))
    assert wb.properties.category == marking and wb.properties.keywords == marking
    assert marking in (wb.properties.description or "")
    code = marking.replace("&", "&&")  # a literal & in Excel's header codes
    for ws in wb.worksheets:
        assert ws.oddHeader.center.text == code
        assert ws.oddFooter.left.text == code
        assert ws.sheet_properties.pageSetUpPr.fitToPage is True
        assert (ws.page_setup.fitToWidth, ws.page_setup.fitToHeight) == (1, 0)
    about = {r[0]: r[1] for r in sheet_values(wb, "About") if len(r) > 1 and r[0]}
    assert about["Protective marking"] == marking
    with zipfile.ZipFile(io.BytesIO(plain)) as package:
        custom = ElementTree.fromstring(package.read("docProps/custom.xml"))
    assert [(p.get("name"), p[0].text) for p in custom.iter(CUSTOM)] == [("Classification",
                                                                          marking)]


@pytest.mark.parametrize("make", [lambda run: render(SCHOOL, [], run), _partner],
                         ids=["school", "partner"])
def test_every_workbook_is_marked_official_sensitive_by_default(make: object) -> None:
    plain = make(RUN)  # type: ignore[operator]
    decrypted = open_encrypted(encrypt(plain, "pw-" * 6), "pw-" * 6)[1]
    _check(decrypted, "OFFICIAL-SENSITIVE")


def test_a_council_sets_its_own_marking_and_an_ampersand_survives_the_header_codes() -> None:
    marked = replace(RUN, marking="OFFICIAL-SENSITIVE & PERSONAL")
    _check(render(SCHOOL, [], marked), "OFFICIAL-SENSITIVE & PERSONAL")
    _check(_partner(marked), "OFFICIAL-SENSITIVE & PERSONAL")


def test_the_marking_is_a_nightly_setting_checked_when_it_loads(tmp_path: Path) -> None:
    env = {"DATABOOK_HOME": str(tmp_path)}
    assert load(environ=env).protective_marking == "OFFICIAL-SENSITIVE"
    (tmp_path / "databook.toml").write_text('protective_marking = "OFFICIAL"\n')
    assert load(environ=env).protective_marking == "OFFICIAL"
    (tmp_path / "databook.toml").write_text('protective_marking = "two\\nlines"\n')
    with pytest.raises(SettingsError, match="PROTECTIVE_MARKING must be one line"):
        load(environ=env)


def test_libreoffice_reads_the_marking_in_headers_footers_and_properties(
        office: str, tmp_path: Path) -> None:
    path = tmp_path / "112000.xlsx"
    path.write_bytes(encrypt(render(SCHOOL, [], RUN), "pw-" * 6))
    seen = read_with_libreoffice(office, path, "pw-" * 6)
    assert seen["opened"] is True
    printing = seen["printing"]
    assert isinstance(printing, dict) and set(printing) == {"Databook", "About"}
    for page in printing.values():
        assert page == {"header": "OFFICIAL-SENSITIVE", "footer": "OFFICIAL-SENSITIVE",
                        "pages_wide": 1}
    properties = seen["properties"]
    assert isinstance(properties, dict)
    assert properties["keywords"] == ["OFFICIAL-SENSITIVE"]
    assert properties["custom"]["Classification"] == "OFFICIAL-SENSITIVE"
