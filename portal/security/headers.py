"""Response headers and a request size limit, as one pure ASGI middleware (no buffering, so a
download streams through untouched).

The CSP allows only this site's own scripts, styles and form targets: no inline script or
style, so an injected ``<script>`` does not run; ``frame-ancestors 'none'`` stops
click-jacking. Every response is ``no-store``: the pages are either about a person's
account or lead to a child's data, and nothing here needs caching.
"""

from __future__ import annotations

from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
       "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'")
HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    # same-origin: no referrer leaves the site, and a browser sends our own forms'
    # Origin (not "null"), which the cross-site check in portal.app compares with base_url.
    (b"referrer-policy", b"same-origin"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"cross-origin-resource-policy", b"same-origin"),
    (b"permissions-policy", b"camera=(), microphone=(), geolocation=()"),
    (b"cache-control", b"no-store"),
    (b"pragma", b"no-cache"),
]
MAX_BODY = 64 * 1024  # the largest legitimate request (a passkey response) is a few KB


class SecurityHeaders:
    def __init__(self, app: ASGIApp, *, hsts: bool) -> None:
        self.app = app
        self.extra = [(b"strict-transport-security",
                       b"max-age=31536000; includeSubDomains")] if hsts else []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = dict(scope["headers"]).get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > MAX_BODY):
            await _too_large(send)
            return
        seen = 0
        started = False

        async def limited() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > MAX_BODY:
                    raise TooLarge
            return message

        async def with_headers(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                names = {b"cache-control", *(n for n, _ in HEADERS)}
                kept = [(n, v) for n, v in message.get("headers", []) if n.lower() not in names]
                message["headers"] = kept + HEADERS + self.extra
            await send(message)

        try:
            await self.app(scope, limited, with_headers)
        except TooLarge:
            await _too_large(send)
        except Exception:
            # A fault in the portal: the plain 500 still carries every header,
            # and says nothing about what failed; the error goes on to the server's log.
            if not started:
                await _plain(send, 500, b"Something went wrong. Please try again later.")
            raise


class TooLarge(Exception):
    pass


async def _too_large(send: Any) -> None:
    await _plain(send, 413, b"The request is too large.")


async def _plain(send: Any, status: int, body: bytes) -> None:
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"text/plain; charset=utf-8"),
                            (b"content-length", str(len(body)).encode()), *HEADERS]})
    await send({"type": "http.response.body", "body": body})
