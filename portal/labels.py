"""What a person reads instead of a code or a machine date: the one place the portal's pages
turn ``requires_escalation``, ``bad_input``, ``sha256`` and ISO timestamps into plain English
and GOV.UK dates, in London time. The CSV exports keep the codes (a spreadsheet filters on
them); the pages show these words. A code not listed here is shown as it is, never hidden.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any

from databook.clock import govuk_date, govuk_when
from databook.ledger.refusals import MEANING
from schemas.download_reasons import PARTNER_REASONS, REASONS
from schemas.registers import CONTACT_STATUSES

#: Column codes of the officer's tables, as headings.
HEADINGS: dict[str, str] = {
    "index": "Ledger entry", "time": "When", "user": "Who", "urn": "URN", "name": "Name",
    "run_id": "Nightly run", "reason_code": "Reason", "reason_text": "Reason in their words",
    "partner_id": "Partner", "sha256": "File fingerprint (SHA-256)", "what": "What happened",
    "list": "Why it is listed", "first_letter_on": "First letter", "since": "Since",
    "second_letter_on": "Second letter", "contact_status": "Contact with the school",
    "detail": "Detail", "month": "Month", "downloads": "Downloads", "schools": "Schools",
    "children": "Children in the files downloaded", "lookups": "Look-ups",
    "files_not_in_drop": "Files no longer in the drop",
    "children_looked_up": "Children looked up",
}

#: Codes that appear in cells, by what they mean to an officer.
VALUES: dict[str, str] = {
    "requires_escalation": "Needs escalating: two letters sent and no signed return",
    "agreement_out_of_date": "Data-sharing agreement out of date",
    "protocol_out_of_date": "Access protocol out of date",
    "no_named_dsl": "Nobody named to receive the databook",
    **dict(CONTACT_STATUSES),
    **{code: f"{code.replace('_', ' ').capitalize()}: {text}" for code, text in MEANING.items()},
    "dsl": "Designated safeguarding lead", "deputy": "Deputy safeguarding lead",
    "council": "Council officer", "partner": "Partner user",
    "active": "active", "invited": "invited, not yet signed in", "left": "left",
}

#: Columns whose cells are reason codes (their own words, not another code's).
REASON_COLUMNS = frozenset({"reason_code"})


def when(moment: datetime | str | None) -> str:
    """A stored moment (a ``datetime``, or an ISO text as the ledger and reports hold it) as
    "7 December 2026 at 2:30pm" in London; text that is not a moment is shown as it is."""
    if moment is None or moment == "":
        return ""
    if isinstance(moment, str):
        try:
            parsed = datetime.fromisoformat(moment.replace("Z", "+00:00").replace(" UTC", "+00:00"))
        except ValueError:
            return moment
    else:
        parsed = moment
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return govuk_when(parsed)


def day(value: date | str | None) -> str:
    """A date as "7 December 2026" (an ISO text too); "" for none."""
    if value is None or value == "":
        return ""
    if isinstance(value, str):
        try:
            return govuk_date(date.fromisoformat(value[:10]))
        except ValueError:
            return value
    return govuk_date(value)


def heading(column: str) -> str:
    """A column code as a heading ("sha256" is "File fingerprint (SHA-256)")."""
    if column in HEADINGS:
        return HEADINGS[column]
    if column.startswith("phase:"):
        return f"Downloads by {column[6:]} schools"
    if column.startswith("partner:"):
        return f"Downloads by partner {column[8:]}"
    return column.replace("_", " ").capitalize()


DATE_COLUMNS = frozenset({"first_letter_on", "second_letter_on", "since"})


def shown(value: Any, column: str = "") -> str:
    """A cell as an officer reads it: dates and moments in GOV.UK style, codes in words."""
    if value is None or value == "" or value == "None":
        return ""
    if column == "time":
        return when(str(value))
    if column in DATE_COLUMNS:
        return day(str(value))
    text = str(value)
    if column in REASON_COLUMNS:
        return {**PARTNER_REASONS, **REASONS}.get(text, text).removesuffix(" (say why below)")
    return VALUES.get(text, text)


FILTERS: dict[str, Callable[..., str]] = {"when": when, "day": day, "heading": heading,
                                          "shown": shown, "label": shown}
