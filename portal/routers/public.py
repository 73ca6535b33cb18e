"""Pages anyone may read without signing in: the accessibility statement (UK public sector
bodies must publish one, linked from every page's footer)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from portal.pages import render

router = APIRouter()


@router.get("/accessibility")
def accessibility(request: Request) -> Response:
    return render(request, "accessibility.html")
