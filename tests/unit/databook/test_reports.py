"""The council's reports, from real ledger entries and manifest-shaped documents."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from databook.ledger import log, reports
from tests.support import Ledger

MONDAY_9 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
OLD, NEW = "20261122T020000Z-aaa", "20261123T020000Z-bbb"
MANIFESTS: dict[str, dict[str, Any]] = {
    OLD: {"generated_at": "2026-11-22T02:00:00Z", "schools": [
        {"urn": 1, "name": "One School", "members": ["p1", "p2"], "sha256": "a"},
        {"urn": 2, "name": "Two School", "members": ["p3"], "sha256": "b"}]},
    NEW: {"generated_at": "2026-11-23T02:00:00Z", "schools": [
        {"urn": 1, "name": "One School", "members": ["p1", "p2", "p4"], "sha256": "c"},
        {"urn": 2, "name": "Two School", "members": ["p3"], "sha256": "d"}]},
}


def _events(ledger: Ledger, rows: list[tuple[int, str, dict[str, Any]]]) -> None:
    with ledger.session() as db:
        for minutes, kind, fields in rows:
            log.append(db, kind, fields, now=MONDAY_9 + timedelta(minutes=minutes))
        db.commit()


def _download(user: int, urn: int, run: str, text: str = "") -> dict[str, Any]:
    fields: dict[str, Any] = {"actor_id": user, "actor_email": f"u{user}@s.example", "urn": urn,
                              "run_id": run, "file_sha256": "ab", "reason_code": "concern"}
    return fields | ({"reason_text": text} if text else {})


def test_reports(sqlite_ledger: Ledger) -> None:
    config = sqlite_ledger.config
    _events(sqlite_ledger, [
        (0, "signin_ok", {"actor_id": 1, "method": "totp"}),
        (1, "agreement_accepted", {"actor_id": 1, "version": "1"}),
        (2, "download", _download(1, 1, NEW, "Pupil asked for help")),
        *[(3 + i, "download", _download(1, 1, NEW)) for i in range(6)],  # a burst
        (30, "download", _download(2, 2, OLD)),  # no sign-in, no agreement, superseded
        (12 * 60, "download", _download(1, 1, NEW)),  # 21:00, outside hours
        *[(40 + i, "signin_failed", {"actor_email": "x@s.example", "reason": "password"})
          for i in range(5)],
    ])
    with sqlite_ledger.session() as db:
        assert [r["index"] for r in reports.downloads(db, urn=2)] == [9]
        assert len(reports.downloads(db, user="U1@s.example")) == 8
        usage = reports.usage(db, MANIFESTS, {1: "Primary", 2: "Secondary"})
        assert usage == [{"month": "2026-11", "downloads": 9, "schools": 2, "children": 4,
                          "files_not_in_drop": 0, "lookups": 0, "children_looked_up": 0,
                          "phase:Primary": 8, "phase:Secondary": 1}]
        found = {(r["index"], r["what"]) for r in reports.irregular(db, config, MANIFESTS)}
        whats = " | ".join(w for _, w in found)
        assert "more than 5 downloads" in whats
        assert (9, f"download of run {OLD}, superseded by {NEW}") in found
        assert (9, "impossible: a download with no sign-in before it") in found
        assert (10, "download outside school hours") in found
        assert "5 failed sign-ins in one day" in whats
        assert all(i != 2 for i, _ in found)  # the ordinary download is not flagged
        assert reports.uncollected(db, MANIFESTS[NEW]) == []
        files, hits = reports.child(db, "p3", MANIFESTS)
        assert {(f["run_id"], f["urn"]) for f in files} == {(OLD, 2), (NEW, 2)}
        assert [h["index"] for h in hits] == [9]
        files, hits = reports.child(db, "p4", MANIFESTS)
        assert len(files) == 1 and hits[0]["reason_text"] == "Pupil asked for help"
        assert all(h["urn"] == 1 for h in hits)
    later = dict(MANIFESTS[NEW], generated_at="2026-11-24T02:00:00Z")
    with sqlite_ledger.session() as db:
        assert reports.uncollected(db, later) == [{"urn": 1, "name": "One School"},
                                                  {"urn": 2, "name": "Two School"}]


def _lookup(user: int, minutes: int, row: str, text: str = "") -> tuple[int, str, dict[str, Any]]:
    fields: dict[str, Any] = {"actor_id": user, "actor_email": f"u{user}@s.example", "urn": 1,
                              "run_id": NEW, "row": row, "reason_code": "concern"}
    return minutes, "lookup", fields | ({"reason_text": text} if text else {})


def test_lookups_in_usage_child_and_irregular(sqlite_ledger: Ledger) -> None:
    """Look-ups are counted per month (and the distinct pupils they opened), listed
    for the child whose row they opened, and flagged in bursts and out of hours."""
    config = sqlite_ledger.config
    _events(sqlite_ledger, [
        (0, "signin_ok", {"actor_id": 1, "method": "totp"}),
        _lookup(1, 1, "p1", "Worried about attendance"),
        _lookup(1, 2, "none"),
        *[_lookup(1, 3 + i // 10, f"p{i}") for i in range(config.burst_lookups)],  # a burst
        _lookup(1, 12 * 60, "p1"),  # 21:00
        _lookup(3, 30, "p4"),  # never signed in
    ])
    with sqlite_ledger.session() as db:
        usage = reports.usage(db, MANIFESTS, {1: "Primary"})
        assert usage[0]["lookups"] == config.burst_lookups + 4 and usage[0]["downloads"] == 0
        assert usage[0]["children_looked_up"] == config.burst_lookups  # p0..p19; "none" not
        p1 = reports.child_lookups(db, "p1")
        assert [(r["index"], r["reason_text"]) for r in p1] == [
            (1, "Worried about attendance"), (4, ""), (config.burst_lookups + 3, "")]
        found = {(r["index"], r["what"]) for r in reports.irregular(db, config, MANIFESTS)}
    assert (config.burst_lookups + 1, f"more than {config.burst_lookups} look-ups by one user "
            f"within {config.burst_window_s // 60} minutes") in found
    assert (config.burst_lookups + 3, "look-up outside school hours") in found
    assert (config.burst_lookups + 4, "impossible: a look-up with no sign-in before it") in found
    assert not any(i == 1 for i, _ in found)


def test_a_new_users_first_download_and_an_officers_typo_are_not_irregular(
        sqlite_ledger: Ledger) -> None:
    """Enrolment signs a new user in (no ``signin_ok`` before their first download); an
    officer's own form error is recorded but is no refusal; a partner user refused a school
    page is not called a council officer."""
    config = sqlite_ledger.config
    _events(sqlite_ledger, [
        (0, "enrolled", {"actor_id": 5, "method": "totp"}),
        (1, "agreement_accepted", {"actor_id": 5, "version": "1"}),
        (2, "download", _download(5, 1, NEW)),
        (3, "refused", {"actor_id": 9, "actor_email": "olu@council.example",
                        "what": "form_error", "path": "/council/users/add", "status": 400}),
        (4, "refused", {"actor_id": 7, "actor_email": "nia@nhs.example",
                        "what": "not_school_user", "path": "/schools/{urn}", "status": 403}),
    ])
    with sqlite_ledger.session() as db:
        found = reports.irregular(db, config, MANIFESTS)
    whats = " | ".join(r["what"] for r in found)
    assert "impossible" not in whats, whats
    assert "olu@council.example" not in {r["user"] for r in found}
    (partner,) = [r for r in found if r["user"] == "nia@nhs.example"]
    assert "by a council officer" not in partner["what"] and "partner" in partner["what"]
