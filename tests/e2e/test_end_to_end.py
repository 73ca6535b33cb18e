"""The nightly run end to end, through the real command and a real Prefect flow.

The most important assertions in the suite live here: every school's file holds exactly the
children the independent oracle expects (so no child from another school), only the schema's
columns, no formula, and no free text, police data or child's name anywhere it should not be.
"""

from __future__ import annotations

import json
import re
import sqlite3
import subprocess
from collections import Counter
from pathlib import Path

import psutil
import pytest

from demo import FORBIDDEN_MARKERS
from demo.names import FORMULA_NAMES
from publish.keystore import Keystore
from tests import oracle
from tests.support import (
    AS_AT,
    OLE_MAGIC,
    Council,
    Run,
    all_text,
    databook,
    formula_cells,
    open_encrypted,
    sheet_values,
)

pytestmark = pytest.mark.prefect


@pytest.fixture(scope="session")
def books(run: Run) -> dict[int, tuple[list[tuple[object, ...]], bytes]]:
    """Each school's decrypted Databook rows and the plain .xlsx bytes, keyed by URN."""
    keystore = Keystore.open(run.home)
    out = {}
    for path in sorted(run.folder.glob("*.xlsx")):
        urn = int(path.stem)
        wb, plain = open_encrypted(path.read_bytes(), keystore.password(urn))
        out[urn] = (sheet_values(wb, "Databook"), plain)
    return out


def test_the_run_folder_is_printed_last_and_holds_one_file_per_open_school(
        run: Run, council: Council) -> None:
    with sqlite3.connect(council.roll_path) as con:
        open_urns = {u for (u,) in con.execute(
            "SELECT SCHOOL_URN FROM EDU_SCHOOLS WHERE IS_OPEN = 'Y'")}
    assert run.folder.parent == run.home / "drop"
    assert sorted(p.name for p in run.folder.iterdir()) == sorted(
        [f"{u}.xlsx" for u in open_urns] + [f"{u}.lookup.json" for u in open_urns]
        + ["manifest.json", "manifest.json.sig"])
    for path in run.folder.glob("*.xlsx"):
        assert path.read_bytes().startswith(OLE_MAGIC)  # encrypted, never a bare zip
    assert (run.home / "drop" / "latest").read_text() == f"{run.folder.name}\n"


def test_a_run_on_the_temporary_server_says_how_to_start_sooner(run: Run) -> None:
    """This run had no PREFECT_API_URL, as ``make demo`` on a fresh machine: it ends by saying
    what its temporary server cost and the fast way (a run against a running server does not:
    ``test_operations``)."""
    said = [ln for ln in run.stderr.splitlines() if "Prefect's temporary server took" in ln]
    assert len(said) == 1, run.stderr[-2000:]
    # a run that succeeded never ends in a traceback (the temporary server's shutdown)
    assert "Traceback" not in run.stderr and "Error flushing" not in run.stderr, run.stderr[-2000:]
    assert re.search(r"took \d+\.\d s of this run to start", said[0])
    assert "make prefect-server" in said[0]
    assert "PREFECT_API_URL=http://127.0.0.1:4200/api databook run" in said[0]
    # The server this run started (flows.temporary_server) was Prefect's for the run, named in
    # its record for recovery, and ended with it.
    record = json.loads((run.home / "runs" / run.folder.name / "run.json").read_text())
    server = psutil.Process(record["server_pid"]) if psutil.pid_exists(
        record["server_pid"]) else None
    assert server is None or "uvicorn" not in " ".join(server.cmdline())


def test_every_school_sees_exactly_its_own_children_as_the_oracle_computes(
        books: dict[int, tuple[list[tuple[object, ...]], bytes]], council: Council) -> None:
    expected = oracle.expected(council.case_path, council.roll_path, AS_AT)
    assert set(books) == set(expected)
    published = 0
    for urn, (values, _) in books.items():
        assert list(values[0]) == oracle.HEADERS
        got = Counter(values[1:])
        want = Counter(expected[urn])
        assert got == want, (urn, sorted(got - want, key=str)[:3], sorted(want - got, key=str)[:3])
        published += len(values) - 1
    assert published > 400  # the demo council is not trivially empty


def test_no_child_appears_unless_on_roll_at_that_school_on_the_as_at_date(
        books: dict[int, tuple[list[tuple[object, ...]], bytes]], council: Council) -> None:
    with sqlite3.connect(council.roll_path) as con:
        on_roll = set(con.execute(
            "SELECT SCHOOL_URN, UPPER(TRIM(UPN)) FROM EDU_ENROLMENTS "
            "WHERE ENROLMENT_STATUS IN ('C','M','S') AND DATE(ENTRY_DATE) <= ? "
            "AND (LEAVING_DATE IS NULL OR DATE(LEAVING_DATE) > ?)",
            (AS_AT.isoformat(), AS_AT.isoformat())))
    for urn, (values, _) in books.items():
        for row in values[1:]:
            assert (urn, row[0]) in on_roll


def test_only_schema_columns_and_no_formulas(
        books: dict[int, tuple[list[tuple[object, ...]], bytes]]) -> None:
    for values, plain in books.values():
        assert all(len(row) == len(oracle.HEADERS) for row in values)
        assert formula_cells(plain) == []
    names = {row[1] for values, _ in books.values() for row in values[1:]}
    for first, last in FORMULA_NAMES:
        assert f"{first} {last}" in names


def test_dual_registered_children_appear_at_both_schools_and_quiet_schools_say_so(
        books: dict[int, tuple[list[tuple[object, ...]], bytes]]) -> None:
    upns = Counter(row[0] for values, _ in books.values() for row in values[1:])
    assert any(n == 2 for n in upns.values())
    empty = [urn for urn, (values, _) in books.items() if len(values) == 1]
    assert empty
    for urn in empty:
        assert "No pupils on your roll are known" in all_text(books[urn][1])


def _every_byte_written(run: Run) -> list[tuple[Path, bytes]]:
    return [(p, p.read_bytes()) for p in run.home.rglob("*") if p.is_file()]


def test_no_free_text_or_police_data_reaches_any_output(
        run: Run, books: dict[int, tuple[list[tuple[object, ...]], bytes]]) -> None:
    texts = [all_text(plain) for _, plain in books.values()]
    texts += [run.stdout, run.stderr]
    texts += [data.decode("utf-8", "replace") for _, data in _every_byte_written(run)]
    for marker in FORBIDDEN_MARKERS:
        assert not any(marker in text for text in texts), marker


def test_no_childs_name_reaches_prefect_logs_or_the_state_folder(
        run: Run, books: dict[int, tuple[list[tuple[object, ...]], bytes]]) -> None:
    names = {str(row[1]) for values, _ in books.values() for row in values[1:] if row[1]}
    assert names
    outside_drop = [(p, d) for p, d in _every_byte_written(run) if run.home / "drop" not in
                    p.parents]
    assert any(p.name.endswith(".db") for p, _ in outside_drop)  # Prefect's own database
    haystacks = [run.stderr, run.stdout] + [d.decode("utf-8", "replace") for _, d in outside_drop]
    leaked = {n for n in names if any(n in h for h in haystacks)}
    assert leaked == set()


def test_keys_reveal_prints_the_password_that_opens_the_file(run: Run) -> None:
    urn = sorted(int(p.stem) for p in run.folder.glob("*.xlsx"))[0]
    shown = databook("keys", "reveal", str(urn), env=run.env)
    assert shown.returncode == 0
    password = shown.stdout.strip().splitlines()[-1]
    values = sheet_values(open_encrypted((run.folder / f"{urn}.xlsx").read_bytes(), password)[0],
                          "About")
    assert ("URN", str(urn)) in [row[:2] for row in values]


def test_the_officer_verifies_the_run_with_the_command_and_with_openssl(run: Run) -> None:
    checked = databook("manifest", "verify", str(run.folder), env=run.env)
    assert checked.returncode == 0, checked.stderr
    assert checked.stdout.strip().splitlines()[-1].startswith(f"verified run {run.folder.name}")
    public = databook("keys", "public", env=run.env).stdout
    assert public == (run.home / "drop" / "signing-key.pub.pem").read_text()
    openssl = subprocess.run(
        ["openssl", "pkeyutl", "-verify", "-pubin", "-inkey", "signing-key.pub.pem", "-rawin",
         "-in", f"{run.folder.name}/manifest.json", "-sigfile",
         f"{run.folder.name}/manifest.json.sig"],
        cwd=run.home / "drop", capture_output=True, text=True, check=False)
    assert openssl.returncode == 0 and "Signature Verified Successfully" in openssl.stdout


def test_the_manifest_counts_each_schools_children(
        run: Run, books: dict[int, tuple[list[tuple[object, ...]], bytes]]) -> None:
    import json

    document = json.loads((run.folder / "manifest.json").read_text())
    assert {s["urn"]: s["children"] for s in document["schools"]} == {
        urn: len(values) - 1 for urn, (values, _) in books.items()}
    assert all(len(s["members"]) == s["children"] for s in document["schools"])


def test_the_run_record_keeps_counts_and_ids_only(run: Run) -> None:
    record_dir = run.home / "runs" / run.folder.name
    record = (record_dir / "run.json").read_text()
    assert '"status": "published"' in record
    header = (record_dir / "findings.csv").read_text().splitlines()[0]
    assert header == "rule,table,record_id,person_id,upn"
