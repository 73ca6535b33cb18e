"""Refused requests, by user and kind, for ``audit irregular`` and its council page.

Every refusal of a signed-in user is recorded (another school's page, a council route, a
forged form, a tampered file), and so is every throttle of one address's failures; a record
nobody reads protects nobody. One row per (user, kind): how many, when the last was, and the
routes (templates, never paths), as a finding beside the others.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

#: What each refusal code means, for the officer (codes not here are shown as they are).
MEANING = {
    "other_school": "another school's page or file",
    "not_council": "a council page, by a school's or a partner's user",
    "not_school_user": "a school page, by someone who is not one of its safeguarding leads "
                       "(a partner's user or a council officer)",
    "bad_csrf": "a form that did not come from the user's own page (possible forgery)",
    "cross_site": "a form posted from another site (possible forgery)",
    "unknown_run": "a databook that is not the current one",
    "bad_input": "a request with bad input",
    "not_found": "a page that does not exist",
    "inactive": "an account that is not active",
    "form_error": "a council officer's form with a mistake in it, shown back to them",
}

#: Recorded (every refusal is), but not irregular: an officer's own typing mistake.
NOT_IRREGULAR = frozenset({"form_error"})


@dataclass
class _Group:
    count: int = 0
    last_index: int = 0
    last_at: datetime | None = None
    routes: set[str] = field(default_factory=set)


def rows(events: Any, local: Any) -> list[dict[str, Any]]:
    """Findings (index, time, user, what) for ``refused`` and ``throttled`` entries, one per
    (user, kind); ``index`` and ``time`` are the newest of the group."""
    groups: dict[tuple[str, str], _Group] = {}
    for e in events:
        if e.kind == "refused" and e.get("what") in NOT_IRREGULAR:
            continue
        if e.kind == "refused":
            key = (str(e.get("actor_email") or f"(address {e.get('client')})"),
                   str(e.get("what")))
        elif e.kind == "throttled":
            key = (f"(address {e.get('client')})", f"throttled {e.get('what')}")
        else:
            continue
        group = groups.setdefault(key, _Group())
        group.count += 1
        group.last_index, group.last_at = e.index, e.at
        if e.get("path"):
            group.routes.add(str(e.get("path")))
    out = []
    for (user, kind), group in groups.items():
        if kind.startswith("throttled "):
            what = (f"failures from one address over the limit ({kind.split(' ', 1)[1]}): "
                    f"{group.count} time(s); the rest in each window were not recorded")
        else:
            where = f" at {', '.join(sorted(group.routes))}" if group.routes else ""
            what = (f"refused {group.count} time(s): {kind} "
                    f"({MEANING.get(kind, 'refused')}){where}")
        out.append({"index": group.last_index, "time": local(group.last_at), "user": user,
                    "what": what})
    return out
