"""What the installation looks like and what is pending cleanup, and why: the stats the
API and the dashboard show, from the same plan the loop executes."""

from __future__ import annotations

from collections import Counter
from typing import Any

from dockyard.core.actions import Reason, Verb
from dockyard.core.errors import DockyardError
from dockyard.core.model import SessionKind, SessionStatus, State, Workspace
from dockyard.core.planner import session_due
from dockyard.service.probes import disk_json, disk_sweep
from dockyard.service.reconcile import gc
from dockyard.service.runtime.context import Context
from dockyard.service.workspaces import pool
from dockyard.service.workspaces.views import list_views

#: Sections of the settings shown as the configuration.
CONFIGURATION = {"policy", "reconciler", "gc", "workspace", "pool"}


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
    return {
        "configuration": ctx.settings.model_dump(mode="json", include=CONFIGURATION),
        "engine_ok": engine_ok,
        "workspaces_by_state": dict(Counter(v.workspace.state.value for v in views)),
        "workspaces_by_owner": dict(
            Counter(v.workspace.owner for v in views if v.workspace.state is not State.REMOVED)
        ),
        "sessions": session_stats(ctx, {v.workspace.key: v.workspace for v in views}),
        "disk": disk_stats(ctx, [v.workspace for v in views]),
        "pending_cleanup": pending + _collection(ctx, taken=due_now),
        "pool": pool.summary(ctx),
    }


def disk_stats(ctx: Context, workspaces: list[Workspace]) -> dict[str, Any]:
    """Each running workspace's disk use (volume and writable layer, measured within a
    bounded time), and their sum."""
    limits = {ws.key: ws.resources.disk_bytes for ws in workspaces}
    found = {
        key: disk_json(use, limit=limits[key]) for key, use in disk_sweep(ctx, workspaces).items()
    }
    total = sum(int(d["disk_bytes"] or 0) for d in found.values())
    return {"total_bytes": total, "workspaces": found}


def session_stats(ctx: Context, records: dict[str, Workspace]) -> dict[str, Any]:
    """Live sessions by status, those past their ``session_timeout`` (``inactive``: the
    next pass closes them) with each one's inactive time, and closed ones by reason."""
    now = ctx.now()
    every = ctx.store.sessions.list()
    live = [s for s in every if s.live]
    pending = []
    for session in live:
        ws = records.get(session.workspace_key)
        if ws is None or session.kind is SessionKind.EXEC:
            continue
        policy = ctx.policy_for(ws)
        due = session_due(session, policy)
        pending.append(
            {
                "id": session.id,
                "workspace": session.workspace_key,
                "kind": session.kind.value,
                "status": session.status.value,
                "inactive_time_s": round((now - session.last_used).total_seconds(), 3),
                "session_timeout_s": policy.session_timeout.total_seconds(),
                "running_command": session.running_since is not None,
                "closes_at": due.isoformat() if due else None,
                "will_cleanup": due is not None and now >= due,
            }
        )
    statuses = Counter(s.status for s in live)
    return {
        "total": len(live),
        "active": statuses.get(SessionStatus.ACTIVE, 0),
        "detached": statuses.get(SessionStatus.DETACHED, 0),
        "inactive": sum(1 for p in pending if p["will_cleanup"]),
        "workspaces_with_sessions": len({s.workspace_key for s in live}),
        "closed_by_reason": dict(
            Counter(s.closed_reason.value for s in every if s.closed_reason is not None)
        ),
        "sessions_pending_cleanup": pending,
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
