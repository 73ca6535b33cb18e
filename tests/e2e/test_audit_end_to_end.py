"""``databook audit child`` and ``audit usage`` against a real published drop, roll and case
source (the session's real nightly run), and a portal database where DSLs signed in and
downloaded through the portal itself; then a manifest that fails its signature is refused."""

from __future__ import annotations

import json
import re
import shutil
import sqlite3
from collections import Counter
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any, cast

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi.testclient import TestClient

from databook.cli import main
from flows.settings import load
from portal.app import create_app
from portal.audit.sources import AuditError, person_id
from portal.cli.portal import install_key
from portal.migrate import ready
from portal.registers import store as register
from portal.registers.record import SchoolRecord, Versions
from publish import lookup_bundle as lb
from publish.keystore import Keystore, SigningKey
from publish.manifest import MANIFEST, SIGNATURE
from tests import oracle
from tests.support import AS_AT, Council, Env, Run, add_user, download, entries, look, sign_in

pytestmark = pytest.mark.prefect  # the session's real nightly run


@dataclass
class Portal:
    home: Path
    env: Env
    runs: tuple[str, str]  # the nightly run, then the rotation that superseded it
    schools: tuple[int, int, int]  # the child's school, then two others
    upn: str
    person: int


def _manifest(home: Path, run_id: str) -> dict[str, Any]:
    return cast(dict[str, Any], json.loads((home / "drop" / run_id / MANIFEST).read_bytes()))


def _a_child_at_one_school(council: Council, home: Path) -> tuple[str, int, int]:
    """(UPN, case person id, URN): a child the independent oracle places in exactly one
    school's databook, whose UPN names one case person."""
    rows = oracle.expected(council.case_path, council.roll_path, AS_AT)
    schools_of: dict[str, set[int]] = {}
    for urn, school_rows in rows.items():
        for row in school_rows:
            if row[0]:
                schools_of.setdefault(str(row[0]), set()).add(urn)
    settings = load(environ={"DATABOOK_HOME": str(home),
                             "DATABOOK_SOURCE_URL": council.case_url})
    for upn, urns in sorted(schools_of.items()):
        if len(urns) == 1:
            try:
                return upn, person_id(settings, upn), urns.pop()
            except AuditError:  # an ambiguous UPN (the demo has them): try the next
                continue
    raise AssertionError("the demo council has no child at exactly one school")


@pytest.fixture
def portal(run: Run, council: Council, tmp_path: Path,
           monkeypatch: pytest.MonkeyPatch) -> Portal:
    home = tmp_path / "home"
    shutil.copytree(run.home, home, ignore=shutil.ignore_patterns("prefect", "portal"))
    environ = {"DATABOOK_HOME": str(home), "DATABOOK_SOURCE_URL": council.case_url,
               "DATABOOK_ROLL_URL": council.roll_url,
               "DATABOOK_PORTAL_BASE_URL": "https://testserver"}
    for name in ("DATABOOK_CONFIG", "DATABOOK_DROP", "DATABOOK_MASTER_KEY",
                 "DATABOOK_ALERT_WEBHOOK", "DATABOOK_PORTAL_DATABASE_URL",
                 "DATABOOK_PORTAL_STATE_DIR"):
        monkeypatch.delenv(name, raising=False)
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    settings = load(environ=environ)
    portal = settings.portal
    for pem in Keystore.open(home).public_keys().values():
        install_key(pem, portal.trusted_keys_dir)
    upn, person, urn = _a_child_at_one_school(council, home)
    first = (home / "drop" / "latest").read_text().strip()
    others = [int(s["urn"]) for s in _manifest(home, first)["schools"] if s["urn"] != urn][:2]
    schools = (urn, others[0], others[1])
    with ready(portal.database_url, portal.state_dir).begin() as db:
        register.save(db, [SchoolRecord(urn=u, name=f"School {u}",
                                        protocol_signed_on=date(2026, 9, 1),
                                        protocol_version=Versions.protocol) for u in schools])
    env = Env(home, home / "drop", cast(SigningKey, None), settings, first)
    return Portal(home, env, (first, ""), schools, upn, person)


def _downloads(portal: Portal) -> None:
    """Three DSLs, one per school, download through the portal app: the child's school's DSL
    before and after a password rotation publishes a second run, the others once each."""
    a, b, c = portal.schools
    with ExitStack() as stack:
        clients = []
        for who, urn in (("ann", a), ("bob", b), ("cat", c)):
            email = f"{who}.lead@school{urn}.example"
            secret = add_user(portal.env, email, [urn])
            client = stack.enter_context(TestClient(create_app(portal.env.settings),
                                                    base_url="https://testserver",
                                                    follow_redirects=False))
            sign_in(client, portal.env, email, secret)
            clients.append(client)
        _download_twice_around_a_rotation(portal, *clients)


def _look_up_the_child(portal: Portal) -> None:
    """A DSL of the child's school looks the child up by UPN through the portal."""
    a = portal.schools[0]
    key = Keystore.open(portal.home).current_lookup_key(a)
    assert key is not None
    email = f"dee.lead@school{a}.example"
    secret = add_user(portal.env, email, [a])
    with TestClient(create_app(portal.env.settings), base_url="https://testserver",
                    follow_redirects=False) as client:
        sign_in(client, portal.env, email, secret)
        got = look(client, lb.upn_token(key, portal.upn), a, reason="other",
                   reason_text="Asked by the head")
        assert got.status_code == 200 and got.json()["found"] is True, got.text


def _download_twice_around_a_rotation(portal: Portal, ann: TestClient, bob: TestClient,
                                      cat: TestClient) -> None:
    a, b, c = portal.schools
    assert download(ann, a, reason="other", reason_text="Core group meeting").status_code == 200
    assert download(bob, b).status_code == 200
    assert main(["keys", "rotate", "--school", str(b)]) == 0
    second = (portal.home / "drop" / "latest").read_text().strip()
    assert second != portal.runs[0]
    portal.runs = (portal.runs[0], second)
    assert download(ann, a).status_code == 200
    assert download(cat, c).status_code == 200


def test_child_and_usage_from_a_real_run_and_real_portal_downloads(
        portal: Portal, council: Council, capsys: pytest.CaptureFixture[str]) -> None:
    _downloads(portal)
    _look_up_the_child(portal)
    capsys.readouterr()
    first, second = portal.runs
    a, b, c = portal.schools
    for who in (portal.upn, str(portal.person), portal.upn.lower()):
        assert main(["audit", "child", who]) == 0
        out = capsys.readouterr().out
        files, hits = out.split("downloads of those files")
        hits, looked = hits.split("look-ups of this child's record")
        looks = [line for line in looked.splitlines()[2:] if line.strip()]
        assert looked.startswith(" (1):") and len(looks) == 1
        assert f"dee.lead@school{a}.example" in looks[0] and "Asked by the head" in looks[0]
        assert files.splitlines()[0] == "files that held this child (2):"
        held = {(line.split()[0], int(line.split()[1])) for line in files.splitlines()[2:]
                if line.strip()}
        assert held == {(first, a), (second, a)}
        lines = [line for line in hits.splitlines()[2:] if line.strip()]
        assert hits.startswith(" (2):") and len(lines) == 2
        assert all(f"ann.lead@school{a}.example" in line and f" {a} " in line
                   for line in lines)
        assert {first, second} == {line.split()[4] for line in lines}
        assert "Core group meeting" in hits  # the officer sees the free text, for this child
        for other in (b, c):  # nobody else's data
            assert not re.search(rf"\b{other}\b", out) and f"school{other}" not in out
        assert portal.upn not in out  # the UPN asked about is not echoed either

    assert main(["audit", "child", "99999999"]) == 0  # nobody: no files, no downloads
    assert "files that held this child (0)" in capsys.readouterr().out

    assert main(["audit", "usage", "--format", "csv"]) == 0
    (row,) = _csv(capsys.readouterr().out)
    downloads = entries(portal.env, "download")
    assert int(row["downloads"]) == len(downloads) == 4
    assert int(row["schools"]) == len({d["urn"] for d in downloads}) == 3
    members: set[str] = set()
    for d in downloads:
        (school,) = [s for s in _manifest(portal.home, d["run_id"])["schools"]
                     if s["urn"] == d["urn"]]
        members |= set(school["members"])
    assert int(row["children"]) == len(members) > 0
    assert (int(row["lookups"]), int(row["children_looked_up"])) == (1, 1)
    with sqlite3.connect(council.roll_path) as roll:
        phase = dict(roll.execute("SELECT SCHOOL_URN, PHASE FROM EDU_SCHOOLS").fetchall())
    by_phase = Counter(str(phase[d["urn"]]) for d in downloads)
    assert {k.removeprefix("phase:"): int(v) for k, v in row.items()
            if k.startswith("phase:") and v} == dict(by_phase)
    assert row["month"] == downloads[0]["time"][:7]


def _csv(text: str) -> list[dict[str, str]]:
    import csv
    import io

    return list(csv.DictReader(io.StringIO(text)))


def test_reports_trust_a_manifest_only_when_its_signature_verifies(
        portal: Portal, capsys: pytest.CaptureFixture[str]) -> None:
    run_dir = portal.home / "drop" / portal.runs[0]
    original = (run_dir / MANIFEST).read_bytes()
    (run_dir / MANIFEST).write_bytes(original.replace(b'"members": [', b'"members": ["x", ', 1))
    for command in (["audit", "usage"], ["audit", "child", str(portal.person)],
                    ["audit", "uncollected"]):
        assert main(command) == 1
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("databook: error: ")
        assert f"{portal.runs[0]}/manifest.json: the signature does not match" in err[0]
        assert "nothing in it is trusted" in err[0]
    # Re-signed by a key the keystore never held: still refused.
    stranger = Ed25519PrivateKey.generate()
    (run_dir / SIGNATURE).write_bytes(stranger.sign((run_dir / MANIFEST).read_bytes()))
    assert main(["audit", "usage"]) == 1
    assert "the signature does not match" in capsys.readouterr().err
    (run_dir / MANIFEST).write_bytes(original)
    (run_dir / SIGNATURE).unlink()
    assert main(["audit", "usage"]) == 1
    assert "has no signed manifest" in capsys.readouterr().err


def test_the_nightly_run_records_its_witness_pass(run: Run) -> None:
    """The real flow ran the witness task: the session's home has no portal database, so the
    pass is a skip, recorded, and the run still published."""
    (record_file,) = [p for p in (run.home / "runs").glob("*/run.json")]
    record = json.loads(record_file.read_text())
    assert record["status"] == "published" and record["witness"] == "skipped"


def test_the_school_day_flow_alerts_the_schools_that_did_not_collect(
        portal: Portal, webhook: tuple[str, list[dict[str, object]]],
        monkeypatch: pytest.MonkeyPatch) -> None:
    from prefect.logging import disable_run_logger

    from flows.collection import uncollected_alert

    url, received = webhook
    monkeypatch.setenv("DATABOOK_ALERT_WEBHOOK", url)
    a = portal.schools[0]
    schools = {int(s["urn"]): s["name"] for s in _manifest(portal.home, portal.runs[0])["schools"]}
    with TestClient(create_app(portal.env.settings), base_url="https://testserver",
                    follow_redirects=False) as client:
        secret = add_user(portal.env, "ann.lead@school.example", [a])
        sign_in(client, portal.env, "ann.lead@school.example", secret)
        assert download(client, a).status_code == 200
    with disable_run_logger():
        assert uncollected_alert.fn() == len(schools) - 1
    (sent,) = received
    text = str(sent["text"])
    assert f"{len(schools) - 1} schools have not downloaded" in text
    assert all(f"{urn} {name}" in text for urn, name in schools.items() if urn != a)
    assert not re.search(rf"\b{a}\b", text)  # the school that collected is not named
