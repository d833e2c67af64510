"""Streaming a command's output as it comes: newline-delimited JSON (``application/
x-ndjson``) or server-sent events (``text/event-stream``), chosen by ``Accept``.

Each piece of output is one record (``{"output": ...}``, with ``"stream"`` for an exec),
and the last record is the result (``{"end": {...}}``) or, for a failure after the
response began, the error (``{"error": {"code", "message"}}``). The command runs on a
thread of its own; the response reads what it writes through a bounded queue, so a
slow client slows the command's output rather than filling memory.
"""

from __future__ import annotations

import codecs
import contextlib
import json
import queue
import threading
from collections.abc import AsyncIterator, Callable
from typing import Any

import anyio
from fastapi import Request
from fastapi.responses import StreamingResponse

from dockyard.api.errors import error_body
from dockyard.api.threads import engine_threads
from dockyard.core.errors import DockyardError

NDJSON = "application/x-ndjson"
SSE = "text/event-stream"
#: Records waiting for a slow client before the command's output waits for it.
BACKLOG = 256
#: How often the response looks up from waiting (a client that left is noticed then).
POLL_S = 0.5

Emit = Callable[[dict[str, Any]], None]


class Text:
    """Bytes as text, a character cut across two chunks decoded whole."""

    def __init__(self) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")

    def decode(self, data: bytes) -> str:
        return self._decoder.decode(data)


def responses(records: str) -> dict[int | str, dict[str, Any]]:
    """The OpenAPI entry of a route that answers whole or streamed."""
    return {
        200: {
            "content": {
                NDJSON: {"schema": {"type": "string"}},
                SSE: {"schema": {"type": "string"}},
            },
            "description": f"the result; with Accept: {NDJSON} or {SSE}, the output as it "
            f"comes ({records} records), then the result (`end`)",
        }
    }


def wanted(request: Request) -> str | None:
    """The streaming format the client asked for, or None for one JSON answer."""
    accept = request.headers.get("accept", "")
    for kind in (NDJSON, SSE):
        if kind in accept:
            return kind
    return None


class ClientGone(Exception):
    """The client stopped reading: what is running for it stops (an exec or a command
    is interrupted by its caller's error handling)."""


def stream(
    kind: str,
    run: Callable[[Emit], dict[str, Any]],
    *,
    on_gone: Callable[[], None] | None = None,
) -> StreamingResponse:
    """Run ``run(emit)`` on a thread; what it emits, then what it returns, streamed.
    ``emit`` waits while the client is slow and raises ``ClientGone`` once it left;
    ``on_gone`` (on a thread) stops what runs for a client that left before its end."""
    records: queue.Queue[dict[str, Any] | None] = queue.Queue(BACKLOG)
    gone = threading.Event()

    def emit(record: dict[str, Any] | None) -> None:
        while not gone.is_set():
            try:
                records.put(record, timeout=0.5)
            except queue.Full:
                continue
            else:
                return
        raise ClientGone

    def work() -> None:
        with contextlib.suppress(ClientGone):
            try:
                emit({"end": run(emit)})
            except DockyardError as exc:
                emit(error_body(exc.code, exc.message))
            finally:
                emit(None)

    async def body() -> AsyncIterator[bytes]:
        threading.Thread(target=work, name="stream", daemon=True).start()
        ended = False
        try:
            while True:
                try:
                    record = await anyio.to_thread.run_sync(
                        records.get, True, POLL_S, limiter=engine_threads()
                    )
                except queue.Empty:
                    continue
                if record is None:
                    ended = True
                    return
                yield _encode(kind, record)
        finally:  # the last record was sent, or the client went away (a cancel)
            gone.set()
            if not ended and on_gone is not None:
                threading.Thread(target=on_gone, name="stream-gone", daemon=True).start()

    return StreamingResponse(body(), media_type=kind, headers={"Cache-Control": "no-store"})


def _encode(kind: str, record: dict[str, Any]) -> bytes:
    data = json.dumps(record, separators=(",", ":"))
    if kind == NDJSON:
        return (data + "\n").encode()
    event = next(iter(record))  # output, end or error
    return f"event: {event}\ndata: {data}\n\n".encode()
