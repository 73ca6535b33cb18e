"""The nightly run's push (``flows.delivery``), as plain functions: runs reach the configured
portal host's drop; a push that cannot reach it is a warning and an alert, never a failed
run; a run that fails verification here is not pushed, and the council is told."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from prefect.logging import disable_run_logger

from databook.drop import latest, runs
from databook.store import LocalStore
from flows import delivery
from flows.delivery import push_now, push_to_portal
from flows.settings import NightlySettings, load
from publish.drop import Signing, publish_run, school_files
from publish.keystore import Keystore
from tests.support import SOURCE, rows, run_info


def _publish(home: Path, day: int = 21) -> str:
    keystore = Keystore.open(home)
    schools = pd.DataFrame({"urn": [100, 200], "dfe_number": "830/1", "name": "School"})
    files = list(school_files(schools, rows(100, 200), keystore.ensure_passwords([100, 200])))
    return publish_run(LocalStore(home / "drop"), run_info(day), files,
                       Signing.from_keystore(keystore), SOURCE)


def test_the_push_task_sends_new_runs_and_alerts_on_a_run_it_will_not_push(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        webhook: tuple[str, list[dict[str, object]]]) -> None:
    url, received = webhook
    home, there = tmp_path / "home", tmp_path / "portal-drop"
    for name in ("DATABOOK_CONFIG", "DATABOOK_MASTER_KEY", "DATABOOK_DROP"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DATABOOK_HOME", str(home))
    monkeypatch.setenv("DATABOOK_ALERT_WEBHOOK", url)
    assert push_now(load()) is None  # not configured: nothing pushed, nothing said
    monkeypatch.setenv("DATABOOK_PUSH_DROP", str(there))
    first = _publish(home)
    with disable_run_logger():
        assert push_to_portal.fn(load()) == "pushed"
    assert runs(LocalStore(there)) == [first] and latest(LocalStore(there)) == first
    assert received == []
    second = _publish(home, 22)
    (home / "drop" / second / "100.xlsx").write_bytes(b"changed after signing")
    with disable_run_logger():
        assert push_to_portal.fn(load()) == "pushed"
    assert runs(LocalStore(there)) == [first]  # the changed run never reached the portal
    assert len(received) == 1 and second in str(received[0]["text"])


def test_a_push_that_fails_is_a_warning_and_an_alert_not_a_failed_run(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        webhook: tuple[str, list[dict[str, object]]]) -> None:
    url, received = webhook
    for name in ("DATABOOK_CONFIG", "DATABOOK_MASTER_KEY", "DATABOOK_DROP"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DATABOOK_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("DATABOOK_ALERT_WEBHOOK", url)
    monkeypatch.setenv("DATABOOK_PUSH_DROP", "sftp://nobody@127.0.0.1:9/drop")
    monkeypatch.setenv("DATABOOK_SFTP_KNOWN_HOSTS", str(tmp_path / "known_hosts"))
    (tmp_path / "known_hosts").write_text("")
    _publish(tmp_path / "home")

    def failing(settings: NightlySettings, return_state: bool = False) -> object:
        return push_to_portal.fn(settings)

    monkeypatch.setattr(delivery, "push_to_portal", failing)
    monkeypatch.setattr(delivery, "get_run_logger", lambda: __import__("logging").getLogger("t"))
    outcome = delivery.push_step(load())
    assert outcome.startswith("failed: ") and "\n" not in outcome
    assert len(received) == 1 and received[0]["status"] == "failed"
