"""The governance rules as pure functions: who may download, who must be escalated, who is
suspended.

They take plain values and today's date and return answers, so the portal's access layer (at
the moment of download), the escalation report and the tests all apply exactly one definition.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import date, timedelta
from typing import Literal

from portal.registers.record import SchoolRecord, Versions
from schemas.registers import ENDED_UNRESOLVED, NO_CONTACT

VERSION = re.compile(r"^\d{1,6}(\.\d{1,6}){0,3}$")
#: The Education Board's rule: escalation follows two letters, the second being the chaser.
LETTERS_BEFORE_ESCALATION = 2
#: The Education Board's rule: escalation applies where the school has not made contact,
#: or the conversation ended where resolution is unlikely; a live conversation is given time.
ESCALATING_CONTACT = frozenset({NO_CONTACT, ENDED_UNRESOLVED})

Confirmation = Literal["not_requested", "confirmed", "awaiting", "suspended"]


def version_key(version: str) -> tuple[int, ...]:
    """Dotted versions compare by number ("1.10" is newer than "1.9"), never as text."""
    if not VERSION.match(version):
        raise ValueError(f"{version!r} is not a version like 1.0")
    return tuple(int(part) for part in version.split("."))


def is_older(version: str, current: str) -> bool:
    """True when ``version`` predates ``current``; "1" and "1.0" are the same version."""
    mine, theirs = version_key(version), version_key(current)
    width = max(len(mine), len(theirs))
    return mine + (0,) * (width - len(mine)) < theirs + (0,) * (width - len(theirs))


def protocol_current(record: SchoolRecord | None, versions: Versions) -> bool:
    """May the council share with this school at all? Only under a signed, current protocol.

    A school missing from the register has signed nothing, so it is refused (least access).
    """
    if record is None or record.protocol_signed_on is None or not record.protocol_version:
        return False
    return not is_older(record.protocol_version, versions.protocol)


def returned(record: SchoolRecord) -> bool:
    """Has the school returned what the letters asked for: the protocol and the agreement?"""
    return record.protocol_signed_on is not None and record.agreement_signed_on is not None


def letters_sent(record: SchoolRecord, today: date) -> tuple[date, ...]:
    """Letters dated on or before today, oldest first (a letter planned for later is not sent)."""
    return tuple(sorted(d for d in record.letters if d <= today))


def requires_escalation(record: SchoolRecord, today: date) -> bool:
    """The Education Board's "Requires Escalation": nothing returned after the two letters,
    AND the school has not made contact or the conversation ended where resolution is unlikely."""
    return (not returned(record)
            and len(letters_sent(record, today)) >= LETTERS_BEFORE_ESCALATION
            and record.contact_status in ESCALATING_CONTACT)


def agreement_problems(record: SchoolRecord, today: date, versions: Versions) -> list[str]:
    """Why a returned agreement no longer serves: its review date passed, or it is an older
    version than the council's current one. Empty when it is in date (or was never signed,
    which the escalation list covers)."""
    if record.agreement_signed_on is None:
        return []
    problems = []
    if record.agreement_review_on is not None and record.agreement_review_on < today:
        problems.append(f"agreement review date {record.agreement_review_on.isoformat()} "
                        "has passed")
    if record.agreement_version and is_older(record.agreement_version, versions.agreement):
        problems.append(f"agreement version {record.agreement_version} is older than "
                        f"the current {versions.agreement}")
    return problems


def protocol_problem(record: SchoolRecord, versions: Versions) -> str | None:
    """Why a signed protocol no longer lets the school download (an older version)."""
    if record.protocol_signed_on is None or protocol_current(record, versions):
        return None
    return (f"protocol version {record.protocol_version} is older than the current "
            f"{versions.protocol}")


def without_named_dsl(urns: Iterable[int], urns_with_dsl: Iterable[int]) -> list[int]:
    """Schools on the register with nobody named to receive their databook."""
    named = set(urns_with_dsl)
    return sorted(u for u in set(urns) if u not in named)


def confirmation(requested_on: date | None, confirmed_on: date | None, today: date,
                 window_days: int) -> Confirmation:
    """Where a user stands in this term's "is this still your DSL?" round.

    Confirmed means confirmed on or after the latest request. Unconfirmed users keep access
    for ``window_days`` after the request (the school needs time to answer) and are suspended
    from the day after, until the school confirms them: a leaver the school forgot to report
    loses access without anyone having to notice.
    """
    if requested_on is None:
        return "not_requested"
    if confirmed_on is not None and confirmed_on >= requested_on:
        return "confirmed"
    if today > requested_on + timedelta(days=window_days):
        return "suspended"
    return "awaiting"


def is_suspended(requested_on: date | None, confirmed_on: date | None, today: date,
                 window_days: int) -> bool:
    return confirmation(requested_on, confirmed_on, today, window_days) == "suspended"
