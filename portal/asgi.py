"""The ASGI entry point for uvicorn with several workers (each imports the app itself):
``uvicorn --factory portal.asgi:app --workers 4``. Settings come from the environment and
``databook.toml`` exactly as for ``databook``; the database must already be migrated
(``databook portal serve`` does that before it starts the workers)."""

from __future__ import annotations

from fastapi import FastAPI


def app() -> FastAPI:
    from flows.settings import load
    from portal.app import create_app

    return create_app(load())
