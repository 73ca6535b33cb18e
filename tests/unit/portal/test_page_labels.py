"""What a person reads: London time in GOV.UK style, and words for codes."""

from __future__ import annotations

from datetime import UTC, date, datetime

from portal.labels import day, heading, shown, when


def test_govuk_dates_and_times_in_london() -> None:
    assert when(datetime(2026, 12, 7, 14, 30, tzinfo=UTC)) == "7 December 2026 at 2:30pm"
    assert when(datetime(2026, 7, 1, 11, 0, tzinfo=UTC)) == "1 July 2026 at midday"  # BST
    assert when(datetime(2026, 12, 7, 0, 0, tzinfo=UTC)) == "7 December 2026 at midnight"
    assert when("2026-03-29T00:59:59.000Z") == "29 March 2026 at 12:59am"
    assert when("2026-03-29T01:00:00.000Z") == "29 March 2026 at 2am"  # the clocks go forward
    assert when("2026-12-07 09:05 UTC") == "7 December 2026 at 9:05am"
    assert when("not a time") == "not a time" and when(None) == ""
    assert day(date(2026, 11, 21)) == day("2026-11-21") == "21 November 2026"


def test_codes_are_words_on_pages() -> None:
    assert heading("sha256") == "File fingerprint (SHA-256)"
    assert shown("requires_escalation", "list").startswith("Needs escalating")
    assert "bad input" in shown("bad_input", "what").lower()
    assert shown("concern", "reason_code") == "A safeguarding concern about a pupil"
    assert shown("referral", "reason_code").startswith("A referral")
    assert shown("2026-09-01", "first_letter_on") == "1 September 2026"
    assert shown("some_new_code") == "some_new_code"  # never hidden
