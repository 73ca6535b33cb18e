"""Pages anyone may read without signing in: the accessibility statement (UK public sector
bodies must publish one, linked from every page's footer)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from portal.context import ctx
from portal.pages import render

router = APIRouter()


@router.get("/signed-out")
def signed_out(request: Request) -> Response:
    """Where the timeout warning sends a browser whose session has ended: what happened, and
    that nothing typed was kept."""
    return render(request, "signed_out.html", {"idle_minutes": ctx(request).portal.idle_minutes})


@router.get("/accessibility")
def accessibility(request: Request) -> Response:
    return render(request, "accessibility.html",
                  {"reviewed_on": ctx(request).portal.accessibility_reviewed_on})
