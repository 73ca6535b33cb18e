"""Why a download is made: the one check of a reason and its free text, for every download
form (a school's, a partner's), so each says the same thing by the same field and none lets
through what another refuses (control and direction characters)."""

from __future__ import annotations

from collections.abc import Mapping

from databook.plain_text import has_unsafe
from schemas.download_reasons import MAX_TEXT, NEEDS_TEXT, REASONS


def problems(reason: str, text: str,
             choices: Mapping[str, str] = REASONS) -> dict[str, str]:
    """The errors by field (``reason``, ``reason_text``); empty when the reason will do.
    ``choices``: the pick-list the form offered (a school's, or a partner's own)."""
    if reason not in choices:
        return {"reason": "Choose why you are downloading the databook today."}
    if reason in NEEDS_TEXT and not text:
        return {"reason_text": "Say in a few words why you need it (this reason needs more "
                               "detail)."}
    if len(text) > MAX_TEXT:
        return {"reason_text": f"Keep the detail to {MAX_TEXT} characters."}
    if has_unsafe(text):
        return {"reason_text": "Write the reason in ordinary characters only."}
    return {}
