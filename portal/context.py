"""Everything a request handler needs, made once per process by ``create_app`` and kept on
``app.state``: settings, the database, the password hasher, the portal's keys, the drop."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from cryptography.fernet import Fernet
from fastapi import Request
from fastapi.templating import Jinja2Templates
from sqlalchemy.orm import Session, sessionmaker

from portal.config import PortalSettings
from portal.events import Origin
from portal.published import Published
from portal.security.passwords import Hashing


@dataclass
class PortalContext:
    settings: Any  # flows.settings.Settings (typed loosely: portal must not need Prefect)
    portal: PortalSettings
    sessions: sessionmaker[Session]
    hashing: Hashing
    hmac_key: bytes
    totp: Fernet
    published: Published
    templates: Jinja2Templates
    alert: Callable[[Mapping[str, Any]], object]
    agreement_text: str
    agreement_sha256: str

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """One transaction: committed when the block ends, rolled back if it raises."""
        with self.sessions.begin() as db:
            yield db


def ctx(request: Request) -> PortalContext:
    context: PortalContext = request.app.state.portal
    return context


def origin(request: Request) -> Origin:
    """The client address as uvicorn saw it (behind the council's proxy, uvicorn's
    ``forwarded_allow_ips`` makes it the real client) and the browser's user agent."""
    client = request.client.host if request.client else None
    return Origin(client=client, user_agent=request.headers.get("user-agent"))
