"""Server-sent events: new rows of the event table, as they land, for any front's action.

The stream tails the store (every 250 ms), not an in-process bus, so it carries what
the CLI, the reconciler and other replicas do too. ``id:`` lines let a client resume
with ``Last-Event-ID``; a comment every 15 s keeps proxies from closing an idle stream.
"""

from __future__ import annotations

import functools
import json
from collections.abc import AsyncIterator

import anyio
from fastapi import Request

from dockyard.core.events import event_json
from dockyard.service import Dockyard

POLL_S = 0.25
KEEPALIVE_S = 15.0


async def stream_events(
    dy: Dockyard,
    request: Request,
    *,
    workspace: str | None,
    owner: str | None,
    after: int | None,
) -> AsyncIterator[str]:
    last = request.headers.get("last-event-id", "")
    cursor = int(last) if last.isdigit() else after
    if cursor is None:  # from now on
        cursor = await anyio.to_thread.run_sync(dy.latest_event_id)
    yield "retry: 1000\n\n"
    quiet = 0.0
    while not await request.is_disconnected():
        read = functools.partial(
            dy.events, after=cursor, limit=500, workspace=workspace, owner=owner
        )
        rows = await anyio.to_thread.run_sync(read)
        for row in rows:
            cursor = row["id"]
            data = json.dumps(event_json(row), separators=(",", ":"))
            yield f"id: {row['id']}\nevent: {row['type']}\ndata: {data}\n\n"
        if rows:
            quiet = 0.0
            continue
        await anyio.sleep(POLL_S)
        quiet += POLL_S
        if quiet >= KEEPALIVE_S:
            quiet = 0.0
            yield ": keepalive\n\n"
