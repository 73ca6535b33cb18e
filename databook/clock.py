"""The council's clock: Europe/London, whatever the host's time zone.

Dates a person reads (the as-at date, "updated at 11:05 today", the school day that
``audit irregular`` checks) are London dates, across clock changes; stored moments are UTC.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

TIMEZONE = "Europe/London"
LONDON = ZoneInfo(TIMEZONE)


def now_utc() -> datetime:
    return datetime.now(UTC)


def today_in_london() -> date:
    return datetime.now(LONDON).date()


def in_london(moment: datetime) -> datetime:
    """A stored moment (UTC, or naive meaning UTC) as London time."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(LONDON)


def parse_date(text: str | None, option: str = "--as-at") -> date:
    """A date typed on the command line, or today in London when none was given."""
    if not text:
        return today_in_london()
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{option} must be a date like 2026-11-21, not {text!r}") from None


def govuk_date(day: date) -> str:
    """A date as GOV.UK style writes it for a person: "7 December 2026"."""
    return f"{day.day} {day:%B %Y}"


def govuk_time(moment: datetime) -> str:
    """A clock time in London, GOV.UK style: "2:30pm", "9am", "midday", "midnight"."""
    local = in_london(moment)
    if local.minute == 0 and local.hour in (0, 12):
        return "midnight" if local.hour == 0 else "midday"
    hour = local.hour % 12 or 12
    minutes = f":{local.minute:02d}" if local.minute else ""
    return f"{hour}{minutes}{'am' if local.hour < 12 else 'pm'}"


def govuk_when(moment: datetime) -> str:
    """A stored moment as a person reads it in London: "7 December 2026 at 2:30pm"."""
    return f"{govuk_date(in_london(moment).date())} at {govuk_time(moment)}"
