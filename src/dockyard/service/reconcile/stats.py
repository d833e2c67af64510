"""What the installation looks like and what is pending cleanup, and why: the stats the
API and the dashboard show, from the same plan the loop executes."""

from __future__ import annotations

from collections import Counter
from typing import Any

from dockyard.core.actions import Reason, Verb
from dockyard.core.errors import DockyardError
from dockyard.core.model import SessionStatus, State
from dockyard.service.reconcile import gc
from dockyard.service.runtime.context import Context
from dockyard.service.workspaces.views import list_views

#: Sections of the settings shown as the configuration.
CONFIGURATION = {"policy", "reconciler", "gc", "workspace"}


def stats(ctx: Context) -> dict[str, Any]:
    """Configuration, counts by state and owner, sessions, and pending cleanup: what the
    planner will do to each workspace, and what the scheduled gc will remove."""
    views, engine_ok = list_views(ctx, include_removed=True)
    pending = [
        {
            "key": v.workspace.key,
            "idle_for_s": v.to_json()["idle_for_s"],
            "deadline": v.deadline.isoformat() if v.deadline else None,
            **(v.pending.to_json(v.now) if v.pending else {}),
        }
        for v in views
        if v.pending is not None
    ]
    due_now = {v.workspace.key for v in views if v.pending is not None and v.pending.at is None}
    sessions = Counter(s.status for s in ctx.store.sessions.list())
    return {
        "configuration": ctx.settings.model_dump(mode="json", include=CONFIGURATION),
        "engine_ok": engine_ok,
        "workspaces_by_state": dict(Counter(v.workspace.state.value for v in views)),
        "workspaces_by_owner": dict(
            Counter(v.workspace.owner for v in views if v.workspace.state is not State.REMOVED)
        ),
        "sessions": {
            "active": sessions.get(SessionStatus.ACTIVE, 0),
            "inactive": sessions.get(SessionStatus.DETACHED, 0)
            + sessions.get(SessionStatus.DEAD, 0),
        },
        "pending_cleanup": pending + _collection(ctx, taken=due_now),
    }


def _collection(ctx: Context, *, taken: set[str]) -> list[dict[str, Any]]:
    """The items the scheduled gc will remove when it next runs (as a pass adds them to
    its plan: none of a workspace the planner acts on now)."""
    at = gc.next_run(ctx)
    if at is None:
        return []
    try:
        found = gc.plan(ctx, gc.settings_request(ctx), sizes=False)
    except DockyardError:  # the engine did not answer: the views say so already
        return []
    now = ctx.now()
    return [
        {
            "key": item.key,
            "target": item.name,
            "kind": item.kind.value,
            "action": Verb.COLLECT.value,
            "reason": Reason.GC.value,
            "detail": item.reason,
            "at": at.isoformat(),
            "in_s": round(max(0.0, (at - now).total_seconds()), 3),
        }
        for item in found.items
        if item.key not in taken
    ]
