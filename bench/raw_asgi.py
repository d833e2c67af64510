"""A do-nothing ASGI app on the same server stack as ``dockyard serve`` (uvicorn): the
floor of a request over one keep-alive connection, for the touches figure."""

from __future__ import annotations

from typing import Any

BODY = b'{"key":"k"}'


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:  # noqa: ARG001 - ASGI
    if scope["type"] != "http":
        return
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(BODY)).encode())]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": BODY})
