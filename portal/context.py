"""Everything a request handler needs, made once per process by ``create_app`` and kept on
``app.state``: settings, the database, the password hasher, the portal's keys, the drop."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from cryptography.fernet import Fernet
from fastapi import Request
from fastapi.templating import Jinja2Templates
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from databook.portal_table import PortalTable
from databook.settings import HostSettings
from portal.events import Origin
from portal.security.passwords import Hashing
from portal.security.throttle import Throttle
from portal.served import Published
from portal.server_values import agent_family


@dataclass
class CheckpointClock:
    """When this worker next has to ask the database whether a ledger checkpoint is due.

    A checkpoint signed at T makes none due before T + the interval, whichever worker signed
    it, so until then a POST need not open a transaction (on SQLite: take the write lock that
    every ledger append waits for) only to find that out."""

    due: datetime | None = None

    def waiting(self, now: datetime) -> bool:
        return self.due is not None and now < self.due


@dataclass
class PortalContext:
    settings: HostSettings
    portal: PortalTable
    sessions: sessionmaker[Session]
    readers: sessionmaker[Session]
    hashing: Hashing
    hmac_key: bytes
    totp: Fernet
    published: Published
    templates: Jinja2Templates
    alert: Callable[[Mapping[str, Any]], object]
    agreement_text: str
    agreement_sha256: str
    partner_agreement_text: str = ""
    partner_agreement_sha256: str = ""
    checkpoints: CheckpointClock = field(default_factory=CheckpointClock)
    throttle: Throttle = field(default_factory=Throttle)

    @property
    def engine(self) -> Engine:
        bind: Engine = self.sessions.kw["bind"]
        return bind

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """One transaction: committed when the block ends, rolled back if it raises."""
        with self.sessions.begin() as db:
            yield db

    @contextmanager
    def reading(self) -> Iterator[Session]:
        """One read-only transaction (``databook.database.readers``): on SQLite it neither takes nor
        waits for the write lock, so reads never hold up a ledger append; a write in it fails."""
        with self.readers.begin() as db:
            yield db


def ctx(request: Request) -> PortalContext:
    context: PortalContext = request.app.state.portal
    return context


def client_address(request: Request) -> str | None:
    """The client's IP address, normalised, or None: only an address is ever signed into the
    ledger (behind a proxy the text came from a header, and must not carry anything else)."""
    host = request.client.host if request.client else None
    try:
        return str(ipaddress.ip_address(host)) if host else None
    except ValueError:
        return None


def origin(request: Request) -> Origin:
    """The client address as uvicorn saw it (behind the council's proxy, uvicorn's
    ``forwarded_allow_ips`` makes it the real client) and the browser's FAMILY
    (never the User-Agent string, which is the visitor's own text)."""
    return Origin(client=client_address(request),
                  user_agent=agent_family(request.headers.get("user-agent")),
                  throttle=ctx(request).throttle)
