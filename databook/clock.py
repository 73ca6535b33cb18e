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
