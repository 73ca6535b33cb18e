"""What a DSL reads on the school page: times in London as a person writes them."""

from __future__ import annotations

from datetime import UTC, datetime

from portal.served import ServedFile


def school_file(published_at: str, updated_at: str = "") -> ServedFile:
    return ServedFile("20260701T010203.000000Z-abcdef", "2026-07-01", published_at, 100001,
                      "A School", "100001.xlsx", 10, "0" * 64, 3, updated_at)


def test_publication_time_is_shown_in_london_time() -> None:
    assert school_file("2026-07-01T01:05:00Z").published_label == "1 July 2026 at 2:05am"  # BST
    assert school_file("2026-11-22T07:47:56Z").published_label == "22 November 2026 at 7:47am"


def test_an_unexpected_publication_time_is_shown_as_the_manifest_gives_it() -> None:
    assert school_file("sometime").published_label == "sometime"


def test_updated_today_or_on_a_date() -> None:
    item = school_file("2026-07-01T01:05:00Z", updated_at="2026-07-01T10:05:00Z")
    assert item.updated_label(datetime(2026, 7, 1, 15, tzinfo=UTC)) == "updated at 11:05am today"
    assert item.updated_label(datetime(2026, 7, 3, 9, tzinfo=UTC)) == (
        "updated at 11:05am on 1 July 2026")
