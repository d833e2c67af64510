"""Activity on a workspace by request: touch (the agents' hot path) and extend.

A touch records activity now, which moves the idle deadline; an extension pushes the
deadline forward without activity, never backward, never past the lifetime cap.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from dockyard.core.deadlines import extended_deadline, idle_deadline
from dockyard.core.errors import Conflict, InvalidValue, NotFound
from dockyard.core.events import EventType
from dockyard.core.model import State, Workspace
from dockyard.core.naming import validate_key
from dockyard.core.units import format_duration
from dockyard.service.runtime.context import Context
from dockyard.service.runtime.records import not_running, require_running

#: Touches of one workspace closer together than this are written once: an idle
#: deadline minutes away does not need the second, and agents touch in bursts.
TOUCH_RESOLUTION = timedelta(seconds=1)


def touch(ctx: Context, key: str, *, owner: str | None = None) -> Workspace:
    """Record activity now; the idle deadline moves to now + idle timeout (a touch
    within TOUCH_RESOLUTION of the last recorded one is not written again, so the
    deadline may be up to that much earlier).

    With ``owner``, only that owner's workspace (any other one does not exist)."""
    ws = ctx.store.workspaces.record_activity(
        validate_key(key), at=ctx.now(), coalesce=TOUCH_RESOLUTION, owner=owner
    )
    if ws is not None:
        return ws
    found = ctx.store.workspaces.get(key)
    if found is None or (owner is not None and found.owner != owner):
        raise NotFound(f"no workspace {key!r}")
    raise not_running(found)


def touched_recently(ctx: Context, key: str, *, owner: str | None = None) -> Workspace | None:
    """What ``touch`` would answer if it has nothing to write (no I/O); otherwise None."""
    return ctx.store.workspaces.recent_activity(
        key, at=ctx.now(), coalesce=TOUCH_RESOLUTION, owner=owner
    )


@dataclass(frozen=True, slots=True)
class Extension:
    workspace: Workspace
    previous_deadline: datetime
    deadline: datetime
    capped: bool


def extend(ctx: Context, key: str, *, by: timedelta) -> Extension:
    """Push the idle deadline forward by ``by`` (never backward, never past the cap)."""
    if by <= timedelta(0):
        raise InvalidValue("extend needs a positive duration")
    for _attempt in range(5):
        ws = require_running(ctx, key)
        policy = ctx.policy_for(ws)
        now = ctx.now()
        before = idle_deadline(ws, policy)
        after = extended_deadline(ws, policy, by=by, now=now)
        capped = after < max(before, now) + by
        # a new deadline, with a warning of its own to come (a warned one runs again)
        running = ws.transition(State.RUNNING, now=now) if ws.state is State.WARNED else ws
        updated = replace(running, extended_until=after, warned_deadline=None)
        if ctx.store.workspaces.save(updated, expect_state=ws.state):
            ctx.emit(
                EventType.WORKSPACE_EXTENDED,
                updated,
                deadline=after.isoformat(),
                by=format_duration(by),
                capped=capped,
            )
            return Extension(updated, before, after, capped)
    raise Conflict(f"workspace {key!r} kept changing; try extending again")
