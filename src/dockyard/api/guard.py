"""The door of the API, in front of everything else: who is calling, and how much they
may send. A request without a valid token is answered 401 before a byte of its body is
read; a body larger than its cap (``api.max_body``; uploads of files have caps of their
own, ``files.*``) is answered 413 (at once when its ``Content-Length`` says so, else when
the reading passes the cap). Routes then find the
caller in ``request.state.principal``. A stored token's owner is remembered for a second
(``KNOWN_FOR_S``). A trailing ``/`` of an API path is dropped (the
routes are matched without it; no key ends in one).

A plain ASGI middleware, not ``BaseHTTPMiddleware``: that one buffers responses (the
event stream would stall) and costs a task per request (a touch would feel it).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

from fastapi import HTTPException
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from dockyard.api.auth import token_digest
from dockyard.api.errors import HTTP_CODES, error_body, error_response
from dockyard.core.errors import DockyardError
from dockyard.core.units import format_size
from dockyard.service import Principal, admin_principal

#: What anyone may read: the API's description, its docs page.
PUBLIC = frozenset({"/api/v1/openapi.json", "/api/v1/docs"})
API_PREFIX = "/api/v1/"

#: A stored token's principal is looked up again after this long: a revoked token is
#: refused within a second, by every replica; in between, an agent's touches cost no
#: store read and no thread hop.
KNOWN_FOR_S = 1.0
KNOWN_MAX = 4096

Lookup = Callable[[str], Principal]
#: The largest body a request may send, and the setting that says so: by method and path.
BodyLimit = Callable[[str, str], tuple[int, str]]


class Guard:
    def __init__(
        self,
        app: ASGIApp,
        *,
        lookup: Lookup,
        admin_hash: str | None,
        body_limit: BodyLimit,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.app = app
        self.lookup = lookup
        self.admin_hash = admin_hash
        self.body_limit = body_limit
        self.clock = clock
        # digest -> (the stored token's principal, until when it is believed)
        self._known: dict[str, tuple[Principal, float]] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        scope = _without_trailing_slash(scope)
        headers = Headers(scope=scope)
        refused = None
        if needs_token(scope["path"]):
            try:
                principal = await self._principal(headers.get("authorization"))
            except DockyardError as exc:
                refused = error_response(exc)
            else:
                scope.setdefault("state", {})["principal"] = principal
        limit = self.body_limit(scope["method"], scope["path"])
        refused = refused or _declared_size_refused(headers.get("content-length"), limit)
        if refused is not None:
            # the body stays unread: the connection cannot carry another request
            refused.headers["Connection"] = "close"
            await refused(scope, receive, send)
            return
        await self.app(scope, capped(receive, limit), send)

    async def _principal(self, authorization: str | None) -> Principal:
        digest = token_digest(authorization)
        found = admin_principal(digest, admin_hash=self.admin_hash)  # no I/O, no thread hop
        if found is not None:
            return found
        now = self.clock()
        known = self._known.get(digest)
        if known is not None and now < known[1]:
            return known[0]
        principal = await run_in_threadpool(self.lookup, digest)
        if len(self._known) >= KNOWN_MAX:
            self._known.clear()
        self._known[digest] = (principal, now + KNOWN_FOR_S)
        return principal


def _declared_size_refused(length: str | None, limit: tuple[int, str]) -> JSONResponse | None:
    if length is None:
        return None
    if not length.isdigit():
        return _refusal(400, "invalid_input", f"Content-Length {length[:32]!r} is no size")
    if int(length) > limit[0]:
        return _too_large(limit)
    return None


def _without_trailing_slash(scope: Scope) -> Scope:
    path: str = scope["path"]
    if not path.startswith(API_PREFIX) or not path.endswith("/"):
        return scope
    trimmed = path.rstrip("/")
    raw: bytes = scope.get("raw_path") or path.encode()
    return {**scope, "path": trimmed, "raw_path": raw.rstrip(b"/")}


def needs_token(path: str) -> bool:
    return path.startswith(API_PREFIX) and path not in PUBLIC


def capped(receive: Receive, limit: tuple[int, str]) -> Callable[[], Awaitable[Message]]:
    """``receive`` that refuses (an HTTP 413, which FastAPI passes on as it is) once the
    body read passes ``limit`` (its bytes, its setting): a chunked body declares none."""
    seen = 0

    async def receive_capped() -> Message:
        nonlocal seen
        message = await receive()
        if message["type"] == "http.request":
            seen += len(message.get("body", b""))
            if seen > limit[0]:
                # what is left of the body stays unread: close after the answer
                raise HTTPException(413, _too_large_message(limit), headers={"Connection": "close"})
        return message

    return receive_capped


def _too_large(limit: tuple[int, str]) -> JSONResponse:
    return _refusal(413, HTTP_CODES[413], _too_large_message(limit))


def _too_large_message(limit: tuple[int, str]) -> str:
    size, setting = limit
    return f"the request body is larger than {setting} ({format_size(size)})"


def _refusal(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse(error_body(code, message), status)
