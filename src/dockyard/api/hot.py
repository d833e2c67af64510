"""The agents' hot path, ahead of FastAPI: a touch that has nothing to write.

An agent touches its workspace every few seconds; within a second of the last touch the
answer comes from memory (``Dockyard.touched_recently``), and FastAPI's routing,
dependency injection and response machinery would cost several times that answer. So a
plain ASGI step behind the guard (the caller is known: ``scope["state"]``) answers those
touches itself, with the very body the route gives; a touch that must write, or anything
else, goes on to FastAPI. A request with a body is never taken (it stays FastAPI's to
read).
"""

from __future__ import annotations

import json
from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send

from dockyard.api.runtime import Runtime
from dockyard.core.model import Workspace

PREFIX = "/api/v1/workspaces/"
SUFFIX = "/touch"
_HEADERS = [(b"content-type", b"application/json")]


def touch_json(runtime: Runtime, ws: Workspace) -> dict[str, Any]:
    """A touch's answer (the route's, and this step's)."""
    return {
        "key": ws.key,
        "state": ws.state.value,
        "last_activity_at": ws.last_activity_at.isoformat(),
        "deadline": runtime.dy.deadline(ws).isoformat(),
    }


class HotTouches:
    def __init__(self, app: ASGIApp, *, runtime: Runtime) -> None:
        self.app = app
        self.runtime = runtime

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        ws = self._recent(scope)
        if ws is None:
            await self.app(scope, receive, send)
            return
        body = json.dumps(
            touch_json(self.runtime, ws), ensure_ascii=False, separators=(",", ":")
        ).encode()
        headers = [*_HEADERS, (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    def _recent(self, scope: Scope) -> Workspace | None:
        if scope["type"] != "http" or scope["method"] != "POST":
            return None
        path: str = scope["path"]
        if not (path.startswith(PREFIX) and path.endswith(SUFFIX)):
            return None
        principal = scope.get("state", {}).get("principal")
        if principal is None or _has_body(scope):
            return None
        key = path[len(PREFIX) : -len(SUFFIX)]
        if not key:
            return None
        return self.runtime.dy.touched_recently(key, owner=principal.owner)


def _has_body(scope: Scope) -> bool:
    for name, value in scope["headers"]:
        if name == b"content-length" and value != b"0":
            return True
        if name == b"transfer-encoding":
            return True
    return False
