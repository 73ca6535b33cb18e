"""What a load balancer, systemd's watchdog or a monitoring check asks: ``GET /healthz`` (the
process answers: liveness) and ``GET /readyz`` (it can reach its database: readiness, 503 if
not). Plain text, no session, nothing recorded, nothing about the council or its data: a
hostile caller learns only that a portal is up."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import PlainTextResponse
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from portal.context import PortalContext

router = APIRouter()


@router.get("/healthz", response_class=PlainTextResponse)
def healthz() -> PlainTextResponse:
    return PlainTextResponse("ok\n", headers={"cache-control": "no-store"})


@router.get("/readyz", response_class=PlainTextResponse)
def readyz(request: Request) -> PlainTextResponse:
    context: PortalContext = request.app.state.portal
    try:
        with context.readers() as db:
            db.execute(text("SELECT 1"))
    except SQLAlchemyError:
        return PlainTextResponse("database unavailable\n", status_code=503,
                                 headers={"cache-control": "no-store"})
    return PlainTextResponse("ready\n", headers={"cache-control": "no-store"})
