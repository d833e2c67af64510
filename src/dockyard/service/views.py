"""Read models for ``ls``, ``status`` and the API: a workspace as people and scripts see it.

A view joins the record, the effective policy (idle deadline, time left), session
counts and, when asked, what the engine says about the container, from one
label-filtered list call for all workspaces rather than an inspect per container. If
the engine cannot be reached the views still come back, with ``container_status``
``unknown`` and a warning, because the records alone answer most questions.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from dockyard.core.errors import EngineUnavailable, NotFound
from dockyard.core.model import ACTIVE_STATES, State, Workspace
from dockyard.core.naming import LABEL_INSTALLATION, LABEL_MANAGED
from dockyard.core.policy import idle_deadline
from dockyard.service.activity import get_workspace
from dockyard.service.context import Context


@dataclass(frozen=True, slots=True)
class WorkspaceView:
    workspace: Workspace
    idle_for_s: float | None
    deadline: datetime | None
    time_left_s: float | None
    sessions_active: int
    sessions_total: int
    container_status: str

    def to_json(self) -> dict[str, Any]:
        ws = self.workspace
        return {
            "key": ws.key,
            "name": ws.name,
            "state": ws.state.value,
            "reason": ws.reason,
            "owner": ws.owner,
            "repo": ws.repo,
            "branch": ws.branch,
            "image": ws.image,
            "container_id": ws.container_id,
            "container_status": self.container_status,
            "volume": ws.volume,
            "strategy": ws.strategy.value,
            "keep": ws.keep,
            "labels": dict(ws.labels),
            "resources": {
                "memory_bytes": ws.resources.memory_bytes,
                "cpus": ws.resources.cpus,
                "pids": ws.resources.pids,
            },
            "created_at": ws.created_at.isoformat(),
            "started_at": ws.started_at.isoformat() if ws.started_at else None,
            "last_activity_at": ws.last_activity_at.isoformat(),
            "idle_for_s": _round(self.idle_for_s),
            "deadline": self.deadline.isoformat() if self.deadline else None,
            "time_left_s": _round(self.time_left_s),
            "sessions": {"active": self.sessions_active, "total": self.sessions_total},
        }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def build_view(
    ctx: Context,
    ws: Workspace,
    *,
    now: datetime,
    sessions: tuple[int, int],
    container_status: str,
) -> WorkspaceView:
    deadline = time_left = idle_for = None
    if ws.state in ACTIVE_STATES:
        deadline = idle_deadline(ws, ctx.policy_for(ws))
        time_left = (deadline - now).total_seconds()
        idle_for = max(0.0, (now - ws.last_activity_at).total_seconds())
    return WorkspaceView(
        workspace=ws,
        idle_for_s=idle_for,
        deadline=deadline,
        time_left_s=time_left,
        sessions_active=sessions[0],
        sessions_total=sessions[1],
        container_status=container_status,
    )


def container_statuses(ctx: Context) -> dict[str, str] | None:
    """Container name -> engine status for this installation; None if unreachable."""
    try:
        listing = ctx.engine.list_containers(
            labels={LABEL_MANAGED: "true", LABEL_INSTALLATION: ctx.installation}
        )
    except EngineUnavailable:
        return None
    return {c.name: c.status for c in listing}


def list_views(
    ctx: Context, *, include_removed: bool = False, owner: str | None = None
) -> tuple[list[WorkspaceView], bool]:
    """All workspaces' views, and whether the engine answered."""
    states = None if include_removed else [s for s in State if s is not State.REMOVED]
    records = ctx.store.list_workspaces(owner=owner, states=states)
    counts = ctx.store.session_counts()
    statuses = container_statuses(ctx)
    now = ctx.now()
    views = [
        build_view(
            ctx,
            ws,
            now=now,
            sessions=counts.get(ws.key, (0, 0)),
            container_status="unknown" if statuses is None else statuses.get(ws.name, "none"),
        )
        for ws in records
    ]
    return views, statuses is not None


def status(ctx: Context, key: str) -> WorkspaceView:
    ws = get_workspace(ctx, key)
    counts = ctx.store.session_counts().get(ws.key, (0, 0))
    container_status = "none"
    for ref in filter(None, (ws.container_id, ws.name)):
        try:
            container_status = ctx.engine.inspect_container(ref=ref).status
            break
        except EngineUnavailable:
            container_status = "unknown"
            break
        except NotFound:
            continue
    return build_view(ctx, ws, now=ctx.now(), sessions=counts, container_status=container_status)
