"""The portal's access log: one line per request, ``client method path status ms``, on the
``databook.portal.access`` logger (the service's journal under systemd).

Only what the server can vouch for and needs to see who hammered what: the client address as
the proxy handling reports it (``trusted_proxies``), the method, the PATH WITHOUT ITS QUERY
STRING, the status and the time taken. Never a query string, a form field (a reason, a
password), a cookie or a header: the ledger is the record of who saw what and why, and this
log must not become a second, unsigned one holding more.
"""

from __future__ import annotations

import logging
import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger("databook.portal.access")


class AccessLog:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started, status = time.perf_counter(), [500]

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                status[0] = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            client = scope.get("client") or ("-", 0)
            path = str(scope.get("path", "")).replace("\n", "").replace(" ", "%20")[:200]
            log.info("%s %s %s %d %.0fms", client[0], scope.get("method", "-"), path,
                     status[0], (time.perf_counter() - started) * 1000)
