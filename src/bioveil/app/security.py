"""The app's guard: a server on loopback is reachable by every page the user's browser opens.

Every request passes four checks before any route sees it (an ASGI middleware, so nothing is
served around it, not the OpenAPI schema, not a static file):

- **Host** must be the loopback address or ``localhost`` with the app's port (a DNS-rebinding page
  reaches the server under its own host name);
- **the secret** made at start: in the URL the app opens (``/?token=...``), which is answered with a
  redirect that sets it as an HttpOnly, SameSite=Strict cookie; every later request carries that
  cookie (or an ``X-Bioveil-Token`` header, for scripts);
- **Origin** of every request that changes state (not GET or HEAD) must be the app's own (CSRF);
- every answer carries a Content-Security-Policy that allows nothing outside the app's own origin.

A refused request gets 403 and a short reason; the log says which check refused it.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Awaitable, Callable, MutableMapping
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import parse_qs

log = logging.getLogger(__name__)

COOKIE = "bioveil_app"
HEADER = b"x-bioveil-token"
SAFE_METHODS = frozenset({"GET", "HEAD"})
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' blob: data:; media-src 'self' blob:; "
       "connect-src 'self'; font-src 'none'; object-src 'none'; frame-src 'none'; worker-src 'self'; base-uri 'none'; "
       "form-action 'self'; frame-ancestors 'none'")
HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"cross-origin-resource-policy", b"same-origin"),
    (b"permissions-policy", b"camera=(self), microphone=(), geolocation=()"),
]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


def allowed_hosts(port: int) -> frozenset[str]:
    return frozenset({f"127.0.0.1:{port}", f"localhost:{port}", f"[::1]:{port}"})


def allowed_origins(port: int) -> frozenset[str]:
    return frozenset(f"http://{host}" for host in allowed_hosts(port))


class Guard:
    """ASGI middleware holding the checks above; ``port`` is set once the server has one."""

    def __init__(self, app: ASGIApp, secret: str, port: int) -> None:
        self.app = app
        self.secret = secret
        self.port = port

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self.app(scope, receive, send)
            return
        if scope["type"] != "http":
            await _refuse(send, "only HTTP is served")
            return
        headers = _headers(scope)
        host = headers.get("host", "")
        if host not in allowed_hosts(self.port):
            log.warning("refused a request for host %r (only loopback on port %d)", host, self.port)
            await _refuse(send, "this server answers only on its loopback address")
            return
        query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
        offered = query.get("token", [None])[0]
        if offered is not None and scope["method"] == "GET" and scope["path"] == "/":
            if not hmac.compare_digest(offered, self.secret):
                log.warning("refused the start page with a wrong secret")
                await _refuse(send, "wrong secret: open the address `bioveil app` printed")
                return
            await _login(send, self.secret)
            return
        if not self._authenticated(headers):
            log.warning("refused %s %s without the secret", scope["method"], scope["path"])
            await _refuse(send, "no secret: open the address `bioveil app` printed")
            return
        if scope["method"] not in SAFE_METHODS and headers.get("origin") not in allowed_origins(self.port):
            log.warning("refused %s %s from origin %r", scope["method"], scope["path"], headers.get("origin"))
            await _refuse(send, "requests that change something must come from the app's own page")
            return

        async def secured(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *HEADERS]
            await send(message)

        await self.app(scope, receive, secured)

    def _authenticated(self, headers: dict[str, str]) -> bool:
        token = headers.get(HEADER.decode())
        if token is None and "cookie" in headers:
            cookie: SimpleCookie = SimpleCookie()
            try:
                cookie.load(headers["cookie"])
            except Exception:  # a malformed cookie header: no secret
                return False
            morsel = cookie.get(COOKIE)
            token = morsel.value if morsel is not None else None
        return token is not None and hmac.compare_digest(token, self.secret)


def _headers(scope: Scope) -> dict[str, str]:
    return {name.decode("latin-1").lower(): value.decode("latin-1") for name, value in scope.get("headers", [])}


async def _refuse(send: Send, reason: str) -> None:
    body = reason.encode()
    await send({"type": "http.response.start", "status": 403,
                "headers": [(b"content-type", b"text/plain; charset=utf-8"), (b"content-length", str(len(body)).encode()),
                            *HEADERS]})
    await send({"type": "http.response.body", "body": body})


async def _login(send: Send, secret: str) -> None:
    """The start page's answer to the secret: the cookie, and a redirect to the page without it in the URL."""
    cookie = f"{COOKIE}={secret}; HttpOnly; SameSite=Strict; Path=/".encode()
    await send({"type": "http.response.start", "status": 303,
                "headers": [(b"location", b"/"), (b"set-cookie", cookie), (b"cache-control", b"no-store"),
                            (b"content-length", b"0"), *HEADERS]})
    await send({"type": "http.response.body", "body": b""})
