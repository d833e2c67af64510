"""The WebSocket of a ``shell`` session's terminal: ``/api/v1/sessions/{id}/terminal``.

Browsers cannot send an ``Authorization`` header on a WebSocket, so the first message
carries the token (never the URL, which access logs keep), with the window size::

    -> {"token": "...", "rows": 24, "cols": 80}
    <- {"attached": {"session": id, "started": bool}}    then the recent output (binary)
    -> binary frames: keystrokes          -> {"resize": [rows, cols]}
    <- binary frames: the terminal's output
    <- {"ended": {"reason": "ended"}}     when the shell exits (then the socket closes)

``started`` says a new shell was started: the first attach, or the first after the
manager restarted (its old shell ended with it; the workspace's files are as they were).
A client that drops and comes back gets the same shell with the recent screen replayed.
Errors come as ``{"error": {"code", "message"}}`` and a close code 4000 + HTTP status.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any

from fastapi import WebSocket, WebSocketDisconnect
from starlette.concurrency import run_in_threadpool

from dockyard.api.auth import token_digest
from dockyard.api.errors import error_body, status_of
from dockyard.api.runtime import Runtime
from dockyard.core.errors import DockyardError, InvalidInput, Unauthorized
from dockyard.service import Attachment, Principal, admin_principal

#: How long a client has to send its first message.
HELLO_S = 10.0
#: Output chunks waiting for a slow client before it is disconnected (to reattach).
BACKLOG = 1024


async def serve_terminal(websocket: WebSocket, rt: Runtime, session_id: str) -> None:
    await websocket.accept()
    output: asyncio.Queue[bytes | None] = asyncio.Queue()
    loop = asyncio.get_running_loop()

    def offer(data: bytes | None) -> None:
        if output.qsize() < BACKLOG:
            output.put_nowait(data)
        elif output.qsize() == BACKLOG:
            output.put_nowait(b"")  # too far behind: it gets the screen again on reattach

    def listener(data: bytes | None) -> None:
        with contextlib.suppress(RuntimeError):  # the loop closed: the client is gone
            loop.call_soon_threadsafe(offer, data)

    try:
        hello = await asyncio.wait_for(websocket.receive_text(), HELLO_S)
        principal, size = await run_in_threadpool(_hello, rt, hello)
        attachment = await run_in_threadpool(
            lambda: rt.dy.attach_terminal(session_id, listener, size=size, owner=principal.owner)
        )
    except DockyardError as exc:
        await _refuse(websocket, exc)
        return
    except (TimeoutError, WebSocketDisconnect):
        with contextlib.suppress(RuntimeError):
            await websocket.close(4408)
        return
    relay: asyncio.Task[None] | None = None
    try:
        started = {"session": attachment.session.id, "started": attachment.started}
        await websocket.send_text(json.dumps({"attached": started}))
        if attachment.replay:
            await websocket.send_bytes(attachment.replay)
        relay = asyncio.create_task(_relay(websocket, output))
        await _keys(websocket, rt, attachment)
    except WebSocketDisconnect:
        pass
    finally:
        if relay is not None:
            relay.cancel()
        await run_in_threadpool(rt.dy.detach_terminal, attachment, listener)


def _hello(rt: Runtime, text: str) -> tuple[Principal, tuple[int, int]]:
    try:
        hello: Any = json.loads(text)
    except ValueError:
        raise InvalidInput("the first message is JSON: {token, rows, cols}") from None
    if not isinstance(hello, dict) or not isinstance(hello.get("token"), str):
        raise Unauthorized('the first message carries the token: {"token": ...}')
    digest = token_digest(f"Bearer {hello['token']}")
    principal = admin_principal(digest, admin_hash=rt.admin_hash) or rt.dy.principal(
        digest, admin_hash=None
    )
    return principal, _size(hello.get("rows", 24), hello.get("cols", 80))


def _size(rows: object, cols: object) -> tuple[int, int]:
    if not isinstance(rows, int) or not isinstance(cols, int):
        raise InvalidInput("rows and cols are whole numbers")
    return rows, cols


async def _relay(websocket: WebSocket, output: asyncio.Queue[bytes | None]) -> None:
    while (data := await output.get()) is not None:
        if not data:  # the client fell too far behind
            await websocket.close(4008)
            return
        await websocket.send_bytes(data)
    await websocket.send_text(json.dumps({"ended": {"reason": "ended"}}))
    await websocket.close(1000)


async def _keys(websocket: WebSocket, rt: Runtime, attachment: Attachment) -> None:
    while True:
        message = await websocket.receive()
        if message["type"] == "websocket.disconnect":
            return
        if message.get("bytes"):
            await run_in_threadpool(rt.dy.terminal_input, attachment, message["bytes"])
            continue
        try:
            command = json.loads(message.get("text") or "{}")
            rows, cols = _size(*command["resize"])
            await run_in_threadpool(rt.dy.resize_terminal, attachment, rows=rows, cols=cols)
        except (ValueError, KeyError, TypeError, DockyardError) as exc:
            note = exc.message if isinstance(exc, DockyardError) else 'expected {"resize": [r, c]}'
            await websocket.send_text(json.dumps(error_body("invalid_input", note)))


async def _refuse(websocket: WebSocket, exc: DockyardError) -> None:
    await websocket.send_text(json.dumps(error_body(exc.code, exc.message)))
    await websocket.close(4000 + status_of(exc))
