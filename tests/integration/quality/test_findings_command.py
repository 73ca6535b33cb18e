"""``databook findings`` through the real command on a real database of runs: the worklist in
each format (the .xlsx read back by openpyxl and LibreOffice), the accepted-finding register
(audited: who, when, why), and bad input as one line, exit 1 and nothing changed. The weekly
summary reaches a real SMTP server (aiosmtpd) and a local webhook, with counts and never an
identifier."""

from __future__ import annotations

import csv
import getpass
import io
import json
import os
import shutil
import subprocess
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import HTTPServer
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from aiosmtpd.controller import Controller
from openpyxl import load_workbook

from databook.cli import main
from flows.settings import load
from quality import history
from tests.support import _Hook, clean_env, databook, free_port

RUN1 = "20261102T020000.000000Z-aaaaaa"
RUN2 = "20261103T020000.000000Z-bbbbbb"
ROWS = [("open-case-not-on-roll", "DM_PERSONS", 1032, 1032, None),
        ("malformed-upn", "DM_PERSONS", 1044, 1044, "=HYPERLINK(1)"),
        ("malformed-upn", "EDU_ENROLMENTS", 900100, None, "X99"),
        ("missing-date-of-birth", "DM_PERSONS", 1050, 1050, None)]


def frame(rows: list[tuple[Any, ...]]) -> pd.DataFrame:
    out = pd.DataFrame(rows, columns=["rule", "table", "record_id", "person_id", "upn"])
    for c in ("record_id", "person_id"):
        out[c] = out[c].astype("Int64")
    return out


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    """A nightly home whose database of runs holds two runs: the second fixed one finding
    and found one new."""
    made = clean_env(DATABOOK_HOME=str(tmp_path / "home"))
    settings = load(environ=made)
    engine = history.open_history(settings.runs_database)
    now = datetime.now(UTC)
    for run_id, rows, when in ((RUN1, ROWS[:3], now - timedelta(days=3)),
                               (RUN2, ROWS[1:], now)):
        history.record_run(engine, {"run_id": run_id, "as_at": when.date().isoformat(),
                                    "started_at": when.isoformat(),
                                    "summary": {"children": 800}}, frame(rows))
    engine.dispose()
    return made


def state(env: dict[str, str]) -> bytes:
    return (Path(env["DATABOOK_HOME"]) / "runs" / "runs.sqlite").read_bytes()


def ok(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    done = databook("findings", *args, env=env)
    assert done.returncode == 0, done.stderr
    return done


def test_the_worklist_in_each_format(env: dict[str, str], tmp_path: Path) -> None:
    table = ok(env).stdout
    assert "open-case-not-on-roll" not in table  # resolved: not in the default worklist
    assert "missing-date-of-birth (1)" in table and "How to fix: Open the person in Mosaic" \
        in table
    rows = list(csv.DictReader(io.StringIO(ok(env, "--format", "csv", "--status",
                                             "new,persisting,resolved").stdout)))
    by = {(r["rule"], r["table"], r["record"]): r for r in rows}
    assert by[("open-case-not-on-roll", "DM_PERSONS", "1032")]["status"] == "resolved"
    assert by[("missing-date-of-birth", "DM_PERSONS", "1050")]["status"] == "new"
    upn = by[("malformed-upn", "DM_PERSONS", "1044")]
    assert upn["status"] == "persisting" and upn["nights_open"] == "3"
    assert upn["upn"] == "'=HYPERLINK(1)"  # never a live formula in a spreadsheet
    # group order: a child possibly missing first, a malformed UPN last
    assert rows[0]["rule"] == "open-case-not-on-roll"
    assert rows[-1]["rule"] == "malformed-upn"
    only = list(csv.DictReader(io.StringIO(ok(env, RUN1, "--format", "csv", "--rule",
                                              "malformed-upn").stdout)))
    assert {r["status"] for r in only} == {"new"} and len(only) == 2

    out = tmp_path / "worklist.xlsx"
    ok(env, "--latest", "--format", "xlsx", "--output", str(out))
    sheet = load_workbook(out)["Worklist"]
    values = [[c.value for c in row] for row in sheet.iter_rows()]
    assert values[0][:3] == ["Status", "Person id", "Record id"] and len(values) == 4
    assert all(c.data_type != "f" for row in sheet.iter_rows() for c in row)
    assert out.stat().st_mode & 0o077 == 0


def test_libreoffice_reads_the_xlsx(env: dict[str, str], tmp_path: Path) -> None:
    """LibreOffice (an independent reader) opens the workbook and sees the worklist."""
    if not shutil.which("soffice"):
        if os.environ.get("CI") == "true":
            pytest.fail("LibreOffice is required under CI")
        pytest.skip("no LibreOffice here")
    out = tmp_path / "worklist.xlsx"
    ok(env, "--format", "xlsx", "--output", str(out))
    subprocess.run(["soffice", "--headless", "--norestore",
                    f"-env:UserInstallation={(tmp_path / 'lo').as_uri()}", "--convert-to",
                    "csv", "--outdir", str(tmp_path / "csv"), str(out)],
                   capture_output=True, timeout=180, check=True)
    text = (tmp_path / "csv" / "worklist.csv").read_text("utf-8")
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0][:3] == ["Status", "Person id", "Record id"] and len(rows) == 4
    assert any(r[5] == "missing-date-of-birth" and r[0] == "new" for r in rows)


def test_accept_and_unaccept_are_audited(env: dict[str, str]) -> None:
    said = ok(env, "accept", "malformed-upn", "1044", "--table", "DM_PERSONS", "--reason",
              "UPN issued by a school abroad").stdout
    assert "accepted malformed-upn 1044 in DM_PERSONS" in said
    rows = list(csv.DictReader(io.StringIO(ok(env, "--format", "csv").stdout)))
    upn = next(r for r in rows if r["record"] == "1044")
    assert upn["status"] == "accepted" and upn["accepted_reason"] == \
        "UPN issued by a school abroad"
    assert "accepted" not in ok(env, "--status", "new", "--format", "csv").stdout.split(
        "\n", 1)[1]
    ok(env, "unaccept", "malformed-upn", "1044", "--reason", "school corrected it")
    register = ok(env, "register").stdout
    assert register.count(getpass.getuser()) == 2
    assert "UPN issued by a school abroad" in register and "school corrected it" in register


@pytest.mark.parametrize(("args", "says"), [
    (("accept", "no-such-rule", "1044", "--reason", "x"), "unknown rule 'no-such-rule'"),
    (("accept", "malformed-upn", "77777", "--reason", "x"), "no open finding malformed-upn"),
    (("accept", "open-case-not-on-roll", "1032", "--reason", "x"), "no open finding"),
    (("accept", "malformed-upn", "1044", "--reason", "x"), None),  # control: it works
    (("accept", "malformed-upn", "1044", "--table", "DM_PERSONS"), "--reason must say"),
    (("unaccept", "missing-date-of-birth", "1050", "--reason", "x"), "is not accepted"),
    (("20991231T000000.000000Z-abcdef",), "has no recorded findings"),
    (("not-a-run",), "is not a run id"),
    (("--rule", "no-such-rule"), "unknown rule"),
    (("--status", "new,fixed"), "unknown status 'fixed'"),
    (("--format", "xlsx"), "needs --output"),
    (("accept", "malformed-upn", "1044", "--format", "csv"), "cannot be used"),
    (("summary", "--send"), "no data-quality channel is configured"),
    (("--runs-db", "postgresql+psycopg://nobody:secret@127.0.0.1:1/none"),
     "cannot open the database of runs (DATABOOK_RUNS_DATABASE_URL): OperationalError"),
])
def test_bad_input_is_one_line_and_changes_nothing(
        env: dict[str, str], args: tuple[str, ...], says: str | None,
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """In this process (``databook.cli.main``, as the command runs it), for speed."""
    for name in [n for n in os.environ if n.startswith("DATABOOK_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("DATABOOK_HOME", env["DATABOOK_HOME"])
    if args[0] == "--runs-db":
        monkeypatch.setenv("DATABOOK_RUNS_DATABASE_URL", args[1])
        args = ()
    before = state(env)
    code = main(["findings", *args])
    err = capsys.readouterr().err
    if says is None:
        assert code == 0, err
        return
    assert code == 1
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("databook: error: ") and says in lines[0], \
        lines
    assert "secret" not in err
    assert state(env) == before


class Inbox:
    def __init__(self) -> None:
        self.messages: list[str] = []

    async def handle_DATA(self, server: object, session: object, envelope: Any) -> str:
        self.messages.append(envelope.content.decode())
        return "250 OK"


@pytest.fixture
def receivers() -> Iterator[tuple[str, str, Inbox]]:
    http = HTTPServer(("127.0.0.1", 0), _Hook)
    _Hook.received = []
    threading.Thread(target=http.serve_forever, daemon=True).start()
    inbox = Inbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield f"http://127.0.0.1:{http.server_port}/dq", f"smtp://127.0.0.1:{port}", inbox
    finally:
        controller.stop()
        http.shutdown()
        http.server_close()


def test_the_weekly_summary_goes_to_the_data_quality_channel_with_counts_only(
        env: dict[str, str], receivers: tuple[str, str, Inbox]) -> None:
    hook, smtp, inbox = receivers
    env = env | {"DATABOOK_DATA_QUALITY_WEBHOOK": hook, "DATABOOK_ALERT_SMTP": smtp,
                 "DATABOOK_DATA_QUALITY_EMAIL_TO": "dq-team@council.example",
                 "DATABOOK_ALERT_EMAIL_TO": "mi-team@council.example"}
    done = ok(env, "summary", "--send")
    assert "sent to: webhook, email" in done.stderr
    assert len(_Hook.received) == 1 and len(inbox.messages) == 1
    mail, posted = inbox.messages[0], json.dumps(_Hook.received[0])
    assert "To: dq-team@council.example" in mail and "mi-team" not in mail
    assert "New findings this week: 4. Resolved: 1. Open now: 3" in mail
    assert "malformed-upn: 2 / 0 (up)" in mail
    for text in (mail, posted, done.stdout):
        for identifier in ("1032", "1044", "1050", "900100", "X99", "HYPERLINK"):
            assert identifier not in text, identifier
    assert json.loads(posted)["summary"]["new"] == 4


def test_the_summary_falls_back_to_the_alert_channels(
        env: dict[str, str], receivers: tuple[str, str, Inbox]) -> None:
    hook, smtp, inbox = receivers
    env = env | {"DATABOOK_ALERT_WEBHOOK": hook, "DATABOOK_ALERT_SMTP": smtp,
                 "DATABOOK_ALERT_EMAIL_TO": "mi-team@council.example"}
    ok(env, "summary", "--send")
    assert len(_Hook.received) == 1 and "To: mi-team@council.example" in inbox.messages[0]


def test_a_channel_that_fails_is_named(env: dict[str, str]) -> None:
    env = env | {"DATABOOK_DATA_QUALITY_WEBHOOK": f"http://127.0.0.1:{free_port()}/gone"}
    done = databook("findings", "summary", "--send", env=env)
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        "databook: error: the summary was NOT sent by: webhook"]


def test_the_weekly_deployment_sends_the_summary(
        env: dict[str, str], receivers: tuple[str, str, Inbox],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """prefect.yaml's weekly deployment loads the flow from its entrypoint; its function
    sends the summary to the data-quality channel (the engine itself is the nightly
    deployment tests' business)."""
    import yaml
    from prefect.flows import load_flow_from_entrypoint
    from prefect.logging import disable_run_logger

    repo = Path(__file__).parents[3]
    spec = yaml.safe_load((repo / "prefect.yaml").read_text())
    (weekly,) = [d for d in spec["deployments"] if d["name"] == "data-quality-summary"]
    assert weekly["schedules"] == [{"cron": "30 7 * * 1", "timezone": "Europe/London"}]
    assert not weekly.get("parameters")  # nothing for Prefect to store
    flow: Any = load_flow_from_entrypoint(str(repo / weekly["entrypoint"]))
    hook, _smtp, _inbox = receivers
    for name in [n for n in os.environ if n.startswith("DATABOOK_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("DATABOOK_HOME", env["DATABOOK_HOME"])
    monkeypatch.setenv("DATABOOK_DATA_QUALITY_WEBHOOK", hook)
    with disable_run_logger():
        assert flow.fn() == 1
    assert str(_Hook.received[0]["subject"]).startswith("Safeguarding databook: data quality")
