"""Events: the event table, or a live stream of new events (server-sent events)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import StreamingResponse

from dockyard.api import responses as out
from dockyard.api.events import stream_events
from dockyard.api.routes.deps import Rt, Who
from dockyard.core.errors import NotFound
from dockyard.core.events import event_json

router = APIRouter(tags=["events"])


@router.get(
    "/events",
    response_model=out.EventListOut,
    responses={200: {"content": {"text/event-stream": {}}}},
)
def events(
    *,
    rt: Rt,
    who: Who,
    request: Request,
    workspace: str | None = None,
    owner: str | None = None,
    after: Annotated[int | None, Query(ge=0, le=2**62)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> Any:
    """The event table, oldest first after ``after`` (default: from the first); with
    ``Accept: text/event-stream`` a live stream (server-sent events) of the events after
    ``after``, as they come (default: from now; ``Last-Event-ID`` resumes)."""
    if not who.admin:
        if owner is not None and owner != who.owner:
            raise NotFound(f"no events of owner {owner!r}")
        owner = who.owner
    if "text/event-stream" in request.headers.get("accept", ""):
        return StreamingResponse(
            stream_events(rt.dy, request, workspace=workspace, owner=owner, after=after),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )
    rows = rt.dy.events(after=after or 0, limit=limit, workspace=workspace, owner=owner)
    return {"events": [event_json(r) for r in rows]}
