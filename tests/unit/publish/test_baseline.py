"""The drift gate's baseline: never "nothing to compare with" while a signed run is in the
drop; a ``latest`` naming a run that does not verify stops the run."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from databook.drop import LATEST, latest
from databook.store import LocalStore
from expectations.drift import Thresholds
from expectations.gate import judge, previous_published
from expectations.gx_run import Outcome
from publish.baseline import NO_PREVIOUS, Baseline, newest_signed_run
from publish.drop import Signing, publish_run, school_files
from publish.keystore import Keystore
from publish.manifest import ManifestError
from tests.support import DROP_SCHOOLS as SCHOOLS
from tests.support import SOURCE, rows, run_info
from transform import Databook

TOTALS = {"children": 40, "cp_current": 20, "lac_current": 0, "cin_current": 0,
          "dv_notification": 0, "cautions": 0}


@pytest.fixture
def keystore(tmp_path: Path) -> Keystore:
    return Keystore.open(tmp_path / "state")


@pytest.fixture
def store(tmp_path: Path) -> LocalStore:
    return LocalStore(tmp_path / "drop")


def publish(store: LocalStore, keystore: Keystore) -> str:
    files = list(school_files(SCHOOLS, rows(100, 200), keystore.ensure_passwords([100, 200])))
    return publish_run(store, run_info(), files, Signing.from_keystore(keystore), SOURCE,
                       extra={"totals": TOTALS})


def tamper(store: LocalStore, run_id: str) -> None:
    path = store.root / run_id / "100.xlsx"
    path.write_bytes(path.read_bytes() + b"x")


def test_an_intact_latest_is_the_baseline_with_no_note(store: LocalStore,
                                                       keystore: Keystore) -> None:
    publish(store, keystore)
    second = publish(store, keystore)
    found = newest_signed_run(store, keystore.public_keys())
    assert (found.run_id, found.note) == (second, "")


@pytest.mark.parametrize("damage", ["delete", "garbage", "dangling"])
def test_an_unusable_latest_falls_back_to_the_newest_signed_run(
        store: LocalStore, keystore: Keystore, damage: str,
        caplog: pytest.LogCaptureFixture) -> None:
    publish(store, keystore)
    second = publish(store, keystore)
    pointer = store.root / LATEST
    if damage == "delete":
        pointer.unlink()
    elif damage == "garbage":
        pointer.write_bytes(b"\xff\xfe not a run id")
    else:
        pointer.write_text("20200101T000000.000000Z-abcdef")
    with caplog.at_level(logging.INFO):
        found = previous_published(store, keystore.public_keys())
    assert found.run_id == second
    assert f"compared with run {second}, the newest run whose signature verifies" in found.note
    assert found.note in caplog.text


def test_runs_that_do_not_verify_are_skipped_and_counted(store: LocalStore,
                                                         keystore: Keystore) -> None:
    first = publish(store, keystore)
    second = publish(store, keystore)
    tamper(store, second)
    (store.root / LATEST).unlink()
    found = newest_signed_run(store, keystore.public_keys())
    assert found.run_id == first and "(1 newer run(s) did not verify)" in found.note


def test_a_latest_naming_a_run_that_does_not_verify_stops_the_run(
        store: LocalStore, keystore: Keystore) -> None:
    publish(store, keystore)
    second = publish(store, keystore)
    tamper(store, second)
    assert latest(store) == second
    with pytest.raises(ManifestError, match=r"100\.xlsx"):
        newest_signed_run(store, keystore.public_keys())


def test_with_no_signed_run_at_all_it_says_so(store: LocalStore, keystore: Keystore,
                                              caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO):
        assert newest_signed_run(store, keystore.public_keys()) == Baseline(None, NO_PREVIOUS)
    assert NO_PREVIOUS in caplog.text
    run_id = publish(store, keystore)
    tamper(store, run_id)
    (store.root / LATEST).unlink()
    found = newest_signed_run(store, keystore.public_keys())
    assert found.document is None and found.note.startswith(NO_PREVIOUS)
    assert "1 run(s) in the drop did not verify" in found.note


def book_with(cp: int, children: int = 40) -> Databook:
    frame = pd.DataFrame({"urn": [100] * children, "person_id": range(children),
                          "cp_current": ["Y"] * cp + ["N"] * (children - cp),
                          "lac_current": ["N"] * children, "cin_current": ["N"] * children,
                          "dv_notification": ["N"] * children, "cautions": [None] * children})
    return Databook(rows=frame, schools=pd.DataFrame({"urn": [100, 200]}),
                    findings=pd.DataFrame({"rule": pd.Series(dtype="object")}),
                    as_at=pd.Timestamp("2026-11-21"), context=pd.DataFrame())


def test_a_lost_feed_is_blocked_even_when_latest_was_deleted(
        store: LocalStore, keystore: Keystore) -> None:
    """The issue's case: every CP plan gone, ``latest`` deleted: still blocked."""
    publish(store, keystore)
    (store.root / LATEST).unlink()
    baseline = previous_published(store, keystore.public_keys())
    verdict = judge(Outcome(), book_with(cp=0), baseline, Thresholds(), None)
    assert verdict.blocked
    assert [c.measure for c in verdict.changes] == ["cp_current"]
    summary: dict[str, Any] = verdict.summary()
    assert summary["drift"][0] == baseline.note


def test_nothing_to_compare_with_is_said_in_the_report_and_the_manifest() -> None:
    verdict = judge(Outcome(), book_with(cp=20), None, Thresholds(), None)
    assert not verdict.blocked
    assert verdict.summary()["drift"] == [NO_PREVIOUS]
    assert verdict.manifest_fields(book_with(cp=20).summary())["drift"] == {
        "since": None, "note": NO_PREVIOUS}
