"""Only values the server chose go into the ledger.

The ledger is permanent and signed: whatever reaches it can never be taken out. A request's
path and its User-Agent are text the visitor typed; a child's name and address went in through
both. So an entry holds the route's template (``/schools/{urn}/download``), never the path,
and a browser family from a short fixed list, never the User-Agent string.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Path, Request

from databook.ledger.entries import AGENT_FAMILIES

#: Every value ``agent_family`` can return (the ledger refuses any other).
FAMILIES = AGENT_FAMILIES
_MARKS = (("edge", ("Edg/", "EdgA/", "EdgiOS/", "Edge/")), ("firefox", ("Firefox/", "FxiOS/")),
          ("chrome", ("Chrome/", "Chromium/", "CriOS/")), ("safari", ("Safari/",)))
NO_ROUTE = "(no route)"


def agent_family(user_agent: str | None) -> str:
    """The browser's family, from the order browsers copy each other's tokens in (Edge says
    Chrome and Safari too; Chrome says Safari)."""
    if not user_agent:
        return "none"
    for family, marks in _MARKS:
        if any(mark in user_agent for mark in marks):
            return family
    return "other"


def route_of(request: Request) -> str:
    """The template of the route that matched (``/schools/{urn}``), or ``(no route)``."""
    route = request.scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else NO_ROUTE


#: The largest URN a request may name: a school's URN is six digits; this is the largest
#: value every database's INTEGER holds, so a bigger one is a recorded 400, never a 500.
MAX_URN = 2**31 - 1
Urn = Annotated[int, Path(ge=0, le=MAX_URN)]
#: A partner id as the register allows it (``schemas.partners.PARTNER_ID``): anything else is
#: a recorded 400 before any route runs, so a refused entry never holds text a visitor chose.
PartnerId = Annotated[str, Path(pattern=r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38}[A-Za-z0-9])?$")]
