"""Why a safeguarding lead downloads the databook: the portal's pick-list, recorded in the
ledger by code. "other" needs free text; any text is kept apart from the signed entry."""

from __future__ import annotations

REASONS: dict[str, str] = {
    "concern": "A safeguarding concern about a pupil",
    "conference": "A child protection conference or core group",
    "joined": "A pupil joined the school",
    "records": "Checking our own records",
    "other": "Other (say why below)",
}
#: A multi-agency partner's pick-list: its own work, never a school's ("a pupil joined").
PARTNER_REASONS: dict[str, str] = {
    "concern": "A safeguarding concern about a child in our cohort",
    "referral": "A referral or assessment about a child in our cohort",
    "meeting": "A multi-agency meeting, conference or core group",
    "caseload": "Checking our own caseload records",
    "other": "Other (say why below)",
}
NEEDS_TEXT = frozenset({"other"})
MAX_TEXT = 500
