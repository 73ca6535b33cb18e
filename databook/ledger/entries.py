"""What an entry may say, and its canonical bytes.

Every kind has a closed list of fields, so a caller cannot slip a child's details (or anything
else unplanned) into the permanent, unerasable log: ``record`` refuses anything else.

Free text typed by a person (a download's reason, a leaver's reason) could name a child. An
entry can never be changed or removed without breaking every later proof, so the text goes in
``ledger_reason_texts`` keyed by the entry's index, and the entry holds only
SHA-256(salt || text). The salt (16 random bytes, kept with the text) stops anyone holding the
log from confirming a guess at the text; the commitment still proves, for as long as the text
is kept, that it is exactly what was typed; and the text can be erased under a retention rule
without touching the tree.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from datetime import datetime
from typing import Any

FieldValue = str | int | bool | None

#: Fields every kind may carry besides its own. ``time`` and ``kind`` are set by ``record``.
COMMON = frozenset({"actor_id", "actor_email", "client", "user_agent", "session"})

#: Free-text fields: stored apart, committed to by ``<name>_commitment`` in the entry.
TEXT_FIELDS = frozenset({"reason_text"})

SIGNIN_FAILED_REASONS = frozenset({"password", "second_factor", "locked", "unknown_user",
                                   "disabled", "expired", "bad_input", "delayed",
                                   "too_many_codes",
                                   # a council officer through the council's OpenID provider
                                   "oidc_state", "oidc_issuer", "oidc_token", "oidc_mfa",
                                   "oidc_group", "oidc_provider", "local_signin_off"})

KINDS: dict[str, frozenset[str]] = {
    "signin_ok": frozenset({"method"}),
    "signin_failed": frozenset({"reason", "method"}),
    "signout": frozenset({"why"}),
    "lockout": frozenset({"until", "failures"}),
    # An account's failures (from any address) reached the point where devices it has not
    # signed in from must wait before each further try: the officer's "under attack" signal.
    "account_delayed": frozenset({"failures", "delay_s"}),
    "enrolled": frozenset({"method"}),
    "enrolment_failed": frozenset({"reason"}),
    "second_factor_added": frozenset({"method"}),
    "agreement_accepted": frozenset({"version"}),
    "download": frozenset({"urn", "run_id", "file_sha256", "as_at", "reason_code",
                           "reason_text", "partner_id"}),
    "refused": frozenset({"what", "path", "urn", "run_id", "status", "partner_id"}),
    "user_added": frozenset({"target_id", "target_email", "urn", "role", "partner_id"}),
    "user_left": frozenset({"target_id", "target_email", "reason_text"}),
    "user_reset": frozenset({"target_id", "target_email"}),
    "user_suspended": frozenset({"target_id", "target_email", "reason_text"}),
    "council_action": frozenset({"action", "target", "urn"}),
    "register_changed": frozenset({"urn", "what", "rows", "partner_id"}),
    # one pupil looked up; ``row`` is the manifest's pseudonym of the row served,
    # "none" (no such pupil in the school's databook) or "ambiguous" (two pupils match).
    "lookup": frozenset({"urn", "run_id", "row", "reason_code", "reason_text"}),
    # A sealed row the browser refused (its tag did not check out): ``row`` as the server
    # served it, ``what`` why.
    "lookup_failed": frozenset({"urn", "run_id", "row", "what"}),
    "throttled": frozenset({"what", "limit", "window_s"}),
    "password_set": frozenset({"purpose"}),
    # The access protocol's duties. A concern: ``what`` is breach or misuse, ``access_index``
    # the reporter's own download or look-up it is about, ``reason_text`` their account.
    "concern_reported": frozenset({"concern_id", "urn", "partner_id", "what", "happened_on",
                                   "access_index", "reason_text"}),
    "concern_status": frozenset({"concern_id", "urn", "partner_id", "new_status", "old_status"}),
    # A school reporting a colleague's leaving (suspended at once), and the council's decision.
    "leaver_reported": frozenset({"target_id", "target_email", "urn", "reporter_role", "why",
                                  "last_day"}),
    "leaver_decided": frozenset({"target_id", "target_email", "decision"}),
    # A sample check: the seed and the sampled entries' indexes, so it can be drawn again.
    "sample_drawn": frozenset({"check_id", "urn", "period_from", "period_to", "size",
                               "population", "seed", "sample"}),
    "sample_finding": frozenset({"check_id", "entry_index", "finding"}),
    "sample_signed_off": frozenset({"check_id", "findings"}),
}

#: A request's browser, as a family (never the visitor's User-Agent text).
AGENT_FAMILIES = frozenset({"edge", "firefox", "chrome", "safari", "other", "none"})

INT_FIELDS = frozenset({"actor_id", "urn", "target_id", "failures", "rows", "status", "limit",
                        "window_s", "delay_s", "concern_id", "access_index", "check_id",
                        "size", "population", "entry_index"})


def check(kind: str, fields: dict[str, FieldValue]) -> None:
    """ValueError naming the first thing wrong; never echoes a value."""
    if kind not in KINDS:
        raise ValueError(f"unknown ledger entry kind {kind!r}")
    allowed = KINDS[kind] | COMMON
    for name, value in fields.items():
        if name not in allowed:
            raise ValueError(f"field {name!r} is not allowed in a {kind} entry")
        if value is not None and not isinstance(value, str | int | bool):
            raise ValueError(f"field {name!r} must be text, a number, true/false or null")
        if name in INT_FIELDS and value is not None and (
                isinstance(value, bool) or not isinstance(value, int)):
            raise ValueError(f"field {name!r} must be a whole number")
    if fields.get("user_agent") not in (None, *AGENT_FAMILIES):
        raise ValueError("field 'user_agent' must be a browser family: "
                         + ", ".join(sorted(AGENT_FAMILIES)))
    if kind == "signin_failed" and fields.get("reason") not in SIGNIN_FAILED_REASONS:
        raise ValueError("signin_failed needs a reason from: "
                         + ", ".join(sorted(SIGNIN_FAILED_REASONS)))


def commitment(salt: bytes, text: str) -> str:
    return hashlib.sha256(salt + text.encode()).hexdigest()


def new_salt() -> bytes:
    return secrets.token_bytes(16)


def canonical(obj: dict[str, Any]) -> bytes:
    """Sorted keys, no spaces, UTF-8: one object has exactly one byte string."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      allow_nan=False).encode()


def build(index: int, kind: str, at: datetime, fields: dict[str, FieldValue],
          salts: dict[str, bytes]) -> bytes:
    """The entry bytes; free text replaced by its commitment (``salts`` holds the salts)."""
    body: dict[str, Any] = {"index": index, "kind": kind,
                            "time": at.strftime("%Y-%m-%dT%H:%M:%S.%fZ")}
    for name, value in fields.items():
        if name in TEXT_FIELDS:
            if value is None:
                continue
            body[name.removesuffix("_text") + "_commitment"] = commitment(salts[name], str(value))
        else:
            body[name] = value
    return canonical(body)


def parse(body: bytes) -> dict[str, Any]:
    """An entry's object, if the bytes are canonical JSON; ValueError otherwise."""
    try:
        obj = json.loads(body.decode())
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise ValueError("not JSON") from None
    if not isinstance(obj, dict) or canonical(obj) != body:
        raise ValueError("not canonical")
    return obj
