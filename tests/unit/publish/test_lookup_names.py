"""One name rule on both sides of the look-up: the nightly run's ``normalise`` (Python) and
the browser's (portal/static/lookup.js, executed as it is served, in Node's V8 with Node's
WebCrypto) give identical keys for a shared list of synthetic surnames, and a child named
Yılmaz in a published bundle is found by the key the browser makes from what a DSL types.
The browser's check that the row it opened is the child asked for runs here too."""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from publish import lookup_bundle as lb
from schemas.databook import KEYS

ROOT = Path(__file__).resolve().parents[3]
LOOKUP_JS = ROOT / "portal" / "static" / "lookup.js"
NAMES = json.loads((ROOT / "tests" / "data" / "lookup_names.json").read_text("utf-8"))["names"]
NODE = shutil.which("node")

# Loads the served file unchanged into a fresh context that has only what a browser tab
# would give it (window, WebCrypto, TextEncoder, atob), then runs the test's ``main``.
RUNNER = r"""
const fs = require("fs"), vm = require("vm");
const input = JSON.parse(fs.readFileSync(0, "utf8"));
const window = {};
vm.runInNewContext(fs.readFileSync(input.file, "utf8"), {window, crypto: globalThis.crypto,
  TextEncoder, TextDecoder, atob, Uint8Array, Array, JSON, Promise, RegExp, Object, String});
const main = new Function("L", "input", "return (async () => {" + input.main + "})();");
main(window.DatabookLookup, input).then((out) => process.stdout.write(JSON.stringify(out)),
  (err) => { process.stderr.write(String(err && err.stack || err)); process.exit(1); });
"""


def _node(main: str, **data: Any) -> Any:
    assert NODE, "node is installed with npm (the Makefile's SYSTEM_PACKAGES)"
    done = subprocess.run([NODE, "-e", RUNNER], input=json.dumps(
        {"file": str(LOOKUP_JS), "main": main, **data}), capture_output=True, text=True,
        timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_the_shared_list_is_long_and_covers_the_letters_that_went_missing() -> None:
    assert len(NAMES) >= 40 and len(set(NAMES)) == len(NAMES)
    joined = "".join(NAMES)
    assert all(c in joined for c in "ıİßẞøæłđ")


def test_python_and_the_browsers_javascript_give_identical_keys() -> None:
    got = _node("return input.names.map(L.normalise);", names=NAMES)
    want = [lb.normalise(n) for n in NAMES]
    assert got == want
    assert all(want), "every synthetic name keeps some letters"


@pytest.mark.parametrize(("typed", "key"), [
    ("Yılmaz", "yilmaz"), ("YILMAZ", "yilmaz"), ("Yilmaz", "yilmaz"), ("Aydın", "aydin"),
    ("AYDIN", "aydin"), ("İnce", "ince"), ("Straße", "strasse"), ("STRAẞE", "strasse"),
    ("Øster", "oster"), ("Æbelø", "aebelo"), ("Łukasz", "lukasz"), ("Đurić", "duric"),
    ("Müller", "muller"), ("O\u2019Brien-Smith", "obriensmith"), ("St. John", "stjohn"),
    ("ΟΔΟΣ", "οδοσ"), ("\uff21\uff22\uff23", "abc"), (" A123-456789012 ", "a123456789012")])
def test_the_rule_folds_each_spelling_to_one_key(typed: str, key: str) -> None:
    assert lb.normalise(typed) == key


def _row(upn: str, name: str, dob: date) -> tuple[lb.Value, ...]:
    values: dict[str, lb.Value] = {k: None for k in KEYS}
    values |= {"upn": upn, "name": name, "date_of_birth": dob, "case_status": "Open"}
    return tuple(values[k] for k in KEYS)


@pytest.fixture(scope="module")
def bundle() -> tuple[lb.LookupKey, dict[str, Any]]:
    """A published bundle (small PBKDF2 count: the derivation is checked against fixed
    vectors elsewhere; here the keys are what matters) with Emre Yılmaz and Ayşe Aydın."""
    key = lb.derive("correct horse battery", bytes(range(16)), 1000)
    rows = [_row("A100000000001", "Emre Yılmaz", date(2015, 3, 2)),
            _row("A100000000002", "Ayşe Aydın", date(2014, 7, 9)),
            _row("A100000000003", "Jan Łukasz-Øster", date(2016, 1, 5))]
    data = lb.build(key, 100001, "run1", date(2026, 12, 3), rows, ["r1", "r2", "r3"])
    return key, lb.parse(data)


BROWSER = """
const keys = await L.importKeys(await L.deriveBytes(input.password, input.salt, 1000));
const out = [];
for (const [surname, dob] of input.asked) {
  const token = await L.nameToken(keys, surname, dob);
  const rowId = input.index[token];
  if (!rowId) { out.push(null); continue; }
  const opened = await L.openRow(keys, 100001, "run1", rowId, input.rows[rowId]);
  out.push([rowId, opened.rows[0][1]]);
}
return out;
"""


def test_a_child_named_yilmaz_is_found_by_the_browsers_key_however_typed(
        bundle: tuple[lb.LookupKey, dict[str, Any]]) -> None:
    _, document = bundle
    asked = [["Yılmaz", "2015-03-02"], ["YILMAZ", "2015-03-02"], ["yilmaz", "2015-03-02"],
             ["Aydin", "2014-07-09"], ["AYDIN", "2014-07-09"], ["lukasz oster", "2016-01-05"],
             ["ŁUKASZ-ØSTER", "2016-01-05"], ["Yılmaz", "2015-03-03"], ["Yıldız", "2015-03-02"]]
    got = _node(BROWSER, password="correct horse battery", salt=base64.b64encode(
        bytes(range(16))).decode(), asked=asked, index=document["index"],
        rows=document["rows"], columns=document["columns"])
    assert got == [["r1", "Emre Yılmaz"]] * 3 + [["r2", "Ayşe Aydın"]] * 2 + [
        ["r3", "Jan Łukasz-Øster"]] * 2 + [None] * 2


CHECK = """
const keys = await L.importKeys(await L.deriveBytes(input.password, input.salt, 1000));
const out = [];
for (const [rowId, query] of input.cases) {
  const opened = await L.openRow(keys, 100001, "run1", rowId, input.rows[rowId]);
  out.push(L.rowMatches(input.columns, opened, query));
}
out.push(L.rowMatches(input.columns, {rows: []}, {upn: "A100000000001"}));
out.push(L.rowMatches(input.legacy, {rows: [["A1", "Amy Yılmaz", "2015-03-02"]]},
                      {surname: "yilmaz", dob: "2015-03-02"}));
return out;
"""


def test_the_browser_shows_a_row_only_if_it_is_the_child_asked_for(
        bundle: tuple[lb.LookupKey, dict[str, Any]]) -> None:
    """The portal picks the sealed row; another child's row of the same school opens just as
    well, so the page compares what the row was sealed under with what was asked."""
    _, document = bundle
    cases = [["r1", {"upn": "a100000000001"}], ["r2", {"upn": "A100000000001"}],
             ["r1", {"surname": "Yilmaz", "dob": "2015-03-02"}],
             ["r2", {"surname": "Yilmaz", "dob": "2015-03-02"}],
             ["r1", {"surname": "Yilmaz", "dob": "2015-03-03"}],
             ["r1", {"surname": "Emre", "dob": "2015-03-02"}],  # a forename is not a surname
             ["r1", {"surname": "", "dob": "2015-03-02"}], ["r1", {"upn": "  "}]]
    legacy = [{"label": c["label"], "kind": c["kind"]} for c in document["columns"]]
    got = _node(CHECK, password="correct horse battery", salt=base64.b64encode(
        bytes(range(16))).decode(), cases=cases, rows=document["rows"],
        columns=document["columns"], legacy=legacy)
    assert got == [True, False, True, False, False, False, False, False, False, True]
