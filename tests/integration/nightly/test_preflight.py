"""every bad setting, key or drop is one line, exit 1, before the
flow starts (no run record, no Prefect, the drop untouched); a fresh DATABOOK_HOME is made."""

from __future__ import annotations

import http.server
import os
import stat
import threading
from datetime import timedelta
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from databook.cli import main
from flows.preflight import check_prefect_server, make_private_tree, prepare_home
from flows.settings import SettingsError, load, today_in_london
from publish.keystore import Keystore

BAD_RUNS = [
    ({"DATABOOK_PUBLISH_WORKERS": "0"}, [], "DATABOOK_PUBLISH_WORKERS must be a whole number"),
    ({"DATABOOK_PUBLISH_WORKERS": "-2"}, [], "DATABOOK_PUBLISH_WORKERS must be a whole number"),
    ({"DATABOOK_PUBLISH_WORKERS": "two"}, [], "DATABOOK_PUBLISH_WORKERS must be a whole number"),
    ({"DATABOOK_KEEP_RUNS": "0"}, [], "DATABOOK_KEEP_RUNS must be a whole number"),
    ({"DATABOOK_RETRY_DELAYS": "10,soon"}, [], "DATABOOK_RETRY_DELAYS must be whole seconds"),
    ({"DATABOOK_ALERT_SMTP": "mail.council.local"}, [], "DATABOOK_ALERT_SMTP must be"),
    ({}, ["--as-at", "FUTURE"], "is in the future"),
    ({}, ["--drift-tolerance", "-1"], "--drift-tolerance must be a fraction from 0 to 1"),
    ({}, ["--drift-tolerance", "1.5"], "--drift-tolerance must be a fraction from 0 to 1"),
    ({}, ["--drift-tolerance", "nan"], "--drift-tolerance must be a fraction from 0 to 1"),
    ({}, ["--task-runner", "dask"], "--task-runner dask needs --dask-address"),
    ({"DATABOOK_MASTER_KEY": "not-a-key"}, [], "is not a valid key"),
    ({"DATABOOK_MASTER_KEY": "WRONG"}, [], "does not open the keystore"),
    ({"DATABOOK_DROP": "FILE"}, [], "is not a folder"),
    ({"PREFECT_API_URL": "http://127.0.0.1:9/api"}, [],
     "the Prefect server at http://127.0.0.1:9/api (PREFECT_API_URL) does not answer"),
]
BAD_TOML = [
    ('[rules]\ndv_lookback_months = "twelve"\n', "[rules].dv_lookback_months"),
    ("[rules]\ndv_lookback_months = 0\n", "[rules].dv_lookback_months"),
    ('[rules]\naddress_withholding_warnings = "NDISC"\n', "must be a list of codes"),
    ("[rules]\nrespite_counts_as_looked_after = 1\n", "must be true or false"),
    ("[drift]\ncounty_change = 5\n", "[drift].county_change"),
    ("[drift]\ncounty_chnage = 0.1\n", "unknown setting [drift].county_chnage"),
    ("publish_workers = 0\n", "DATABOOK_PUBLISH_WORKERS must be a whole number"),
    ("source_url = 5\n", "DATABOOK_SOURCE_URL must be text"),
]


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A home with a keystore and yesterday's run in the drop; no sources (checks that need
    them come after every check here)."""
    for name in list(os.environ):
        if name.startswith("DATABOOK_"):
            monkeypatch.delenv(name)
    home = tmp_path / "home"
    monkeypatch.setenv("DATABOOK_HOME", str(home))
    Keystore.open(home).ensure_passwords([112000])
    previous = home / "drop" / "20261120T020000.000000Z-000000"
    previous.mkdir(parents=True)
    (previous / "112000.xlsx").write_bytes(b"yesterday")
    return home


def state(home: Path) -> dict[str, bytes]:
    """Every file in the home, so a failed command is seen to change nothing."""
    return {str(p.relative_to(home)): p.read_bytes() for p in home.rglob("*") if p.is_file()}


def one_line_error(args: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    code = main(args)
    out, err = capsys.readouterr()
    assert (code, out) == (1, ""), err
    assert err.startswith("databook: error: ") and err.count("\n") == 1, err
    return err


@pytest.mark.parametrize("env, extra, message", BAD_RUNS,
                         ids=[f"{e}{x}" for e, x, _ in BAD_RUNS])
def test_bad_settings_stop_a_run_before_it_starts(
        home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
        env: dict[str, str], extra: list[str], message: str) -> None:
    for name, value in env.items():
        if value == "WRONG":
            value = Fernet.generate_key().decode()
        elif value == "FILE":
            value = str(home / "drop-file")
            Path(value).write_bytes(b"not a folder")
        monkeypatch.setenv(name, value)
    tomorrow = (today_in_london() + timedelta(days=1)).isoformat()
    before = state(home)
    err = one_line_error(["run", *[tomorrow if a == "FUTURE" else a for a in extra]], capsys)
    assert message in err
    assert state(home) == before  # no run record, no master key, the drop as it was


@pytest.mark.parametrize("toml, message", BAD_TOML)
def test_bad_databook_toml_is_named(home: Path, capsys: pytest.CaptureFixture[str],
                                    toml: str, message: str) -> None:
    (home / "databook.toml").write_text(toml)
    before = state(home)
    assert message in one_line_error(["run"], capsys)
    assert state(home) == before


def test_manifest_verify_refuses_bad_keys_files_and_escaping_ids(
        home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    not_pem = tmp_path / "key.pem"
    not_pem.write_text("hello\n")
    run = "20261120T020000.000000Z-000000"
    cases = [
        (["manifest", "verify", run, "--public-key", str(tmp_path / "missing.pem")],
         "cannot be read"),
        (["manifest", "verify", run, "--public-key", str(not_pem)], "is not a PEM public key"),
        (["manifest", "verify", str(home / "drop" / run / "112000.xlsx")], "is a file"),
        (["manifest", "verify", "/etc"], "manifest.json is missing"),
        (["manifest", "verify", "../no-such-folder"], "neither a run folder nor a run id"),
        (["manifest", "verify", "/nonexistent/20261120T020000.000000Z-000000"],
         "neither a run folder nor a run id"),
        (["report", "../../etc"], "is not a run id"),
        (["runs", "--limit", "0"], "--limit must be at least 1"),
    ]
    for args, message in cases:
        assert message in one_line_error(args, capsys), args


def test_a_new_home_is_made_with_its_parents_private(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """A council points DATABOOK_HOME at a folder that does not exist yet (nor its parent)."""
    for name in list(os.environ):
        if name.startswith(("DATABOOK_", "PREFECT_HOME")):
            monkeypatch.delenv(name)
    home = tmp_path / "srv" / "databook" / "state"
    monkeypatch.setenv("DATABOOK_HOME", str(home))
    assert main(["demo-data", "--schools", "12", "--pupils", "400"]) == 0
    assert capsys.readouterr().out.strip() == str(home / "demo")
    prepare_home(load())
    assert Path(os.environ["PREFECT_HOME"]) == home / "prefect"
    for folder in (tmp_path / "srv", tmp_path / "srv" / "databook", home, home / "demo",
                   home / "runs", home / "prefect"):
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700, folder


def test_an_existing_folders_mode_is_left_alone(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir(mode=0o755)
    os.chmod(shared, 0o755)
    make_private_tree(shared / "new" / "deeper")
    assert stat.S_IMODE(shared.stat().st_mode) == 0o755
    assert stat.S_IMODE((shared / "new").stat().st_mode) == 0o700


def test_a_home_under_a_file_is_one_line_naming_the_file(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    for name in list(os.environ):
        if name.startswith(("DATABOOK_", "PREFECT_HOME")):
            monkeypatch.delenv(name)
    blocker = tmp_path / "srv"
    blocker.write_bytes(b"a file where a folder should be")
    monkeypatch.setenv("DATABOOK_HOME", str(blocker / "databook"))
    err = one_line_error(["run"], capsys)
    assert f"cannot create the folder {blocker / 'databook' / 'runs'}: {blocker} is a file" \
        in err
    assert blocker.read_bytes() == b"a file where a folder should be"


def test_preflight_makes_folders_by_the_one_rule_in_publish_fsio() -> None:
    """Preflight had its own copy of the folder rule, which also chmod'ed a folder
    someone else made meanwhile; folders are made in one place only."""
    import inspect

    from flows import preflight

    source = inspect.getsource(preflight)
    assert "make_private_dir" in source
    assert "mkdir" not in source and "chmod" not in source


def test_a_prefect_server_that_answers_at_all_passes_and_a_password_is_never_repeated(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Any HTTP answer passes (Prefect Cloud's /health needs a key: 401); a URL's user and
    password are not used for the check nor repeated in the error."""

    class Refusing(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_error(401)

        def log_message(self, *args: object) -> None:
            return None

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Refusing)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        monkeypatch.setenv("PREFECT_API_URL", f"http://127.0.0.1:{server.server_port}/api")
        check_prefect_server()
    finally:
        server.shutdown()
    monkeypatch.setenv("PREFECT_API_URL", "http://officer:s3cret@127.0.0.1:9/api/")
    with pytest.raises(SettingsError) as refused:
        check_prefect_server()
    assert "http://127.0.0.1:9/api (PREFECT_API_URL) does not answer" in str(refused.value)
    assert "s3cret" not in str(refused.value) and "officer" not in str(refused.value)
