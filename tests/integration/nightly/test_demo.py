"""The demo council: reproducible, and every situation of the source contract occurs."""

from __future__ import annotations

from pathlib import Path

from demo import DemoSize
from extract import read_sources
from tests.support import AS_AT, Council, make_council
from transform import Rules, build_databook
from transform.findings import BAD_INPUT, RULES


def test_the_same_seed_makes_the_same_council(tmp_path: Path, council: Council) -> None:
    again = make_council(tmp_path, DemoSize(as_at=AS_AT))
    assert again.case_path.read_bytes() == council.case_path.read_bytes()
    assert again.roll_path.read_bytes() == council.roll_path.read_bytes()


def test_every_finding_and_indicator_occurs(council: Council) -> None:
    book = build_databook(read_sources(council.case_url, council.roll_url), Rules(as_at=AS_AT))
    found = set(book.findings["rule"])
    # Bad input is not in the demo (it must publish): tests/test_bad_input.py makes each.
    assert found >= set(RULES) - {"upn-check-letter"} - set(BAD_INPUT)
    assert not found & set(BAD_INPUT)
    summary = book.summary()
    for key in ("cp_current", "lac_current", "cin_current", "dv_notification", "cautions"):
        assert summary[key] > 0, key
    rows = book.rows
    assert (rows["cp_previous"] == "Y").any()
    assert (rows["principal_address"].str.startswith("Address withheld")).any()
    assert (rows["social_worker"] == "Starting Point").any()
    assert ((rows["case_status"] == "Open") & (rows["social_worker"] == "Starting Point")).any()
    assert rows["cautions"].str.contains("; ").any()
