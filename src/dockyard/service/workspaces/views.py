"""Read models for ``ls``, ``status`` and the API: a workspace as people and scripts see it.

A view joins the record, the effective policy (idle deadline, time left), session
counts, what the engine says about the container (one label-filtered list for all
workspaces, not an inspect each) and what the planner will do next and why: the same
``plan`` the reconciler executes, so ``ls`` never promises something the loop would not
do. If the engine cannot be reached the views still come back, with container status
``unknown`` and no pending action, because the records alone answer most questions.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from dockyard.core.errors import EngineUnavailable
from dockyard.core.model import ACTIVE_STATES, Session, SessionStatus, State, Workspace
from dockyard.core.naming import LABEL_WORKSPACE
from dockyard.core.planner import (
    Activity,
    ObservedContainer,
    Plan,
    effective_deadline,
    last_activity,
    plan,
)
from dockyard.engine.models import ContainerInfo
from dockyard.service.observe import (
    Observation,
    installation_labels,
    observe,
    observed_container,
    with_stop_requests,
)
from dockyard.service.runtime.context import Context
from dockyard.service.runtime.objects import holders
from dockyard.service.runtime.records import get_workspace


@dataclass(frozen=True, slots=True)
class Pending:
    """The next thing the reconciler will do to a workspace; ``at`` None means now."""

    action: str
    reason: str
    detail: str
    at: datetime | None

    def to_json(self, now: datetime) -> dict[str, Any]:
        return {
            "action": self.action,
            "reason": self.reason,
            "detail": self.detail or None,
            "at": self.at.isoformat() if self.at else now.isoformat(),
            "in_s": round(max(0.0, (self.at - now).total_seconds()), 3) if self.at else 0.0,
        }


@dataclass(frozen=True, slots=True)
class WorkspaceView:
    workspace: Workspace
    now: datetime
    idle_for_s: float | None
    deadline: datetime | None
    time_left_s: float | None
    sessions_active: int
    sessions_total: int
    container_status: str
    pending: Pending | None

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
            "engine": ws.engine,
            "volume": ws.volume,
            "strategy": ws.strategy.value,
            "keep": ws.keep,
            "labels": dict(ws.labels),
            "resources": {
                "memory_bytes": ws.resources.memory_bytes,
                "cpus": ws.resources.cpus,
                "pids": ws.resources.pids,
                "disk_bytes": ws.resources.disk_bytes,
            },
            "created_at": ws.created_at.isoformat(),
            "started_at": ws.started_at.isoformat() if ws.started_at else None,
            "last_activity_at": ws.last_activity_at.isoformat(),
            "idle_for_s": _round(self.idle_for_s),
            "deadline": self.deadline.isoformat() if self.deadline else None,
            "time_left_s": _round(self.time_left_s),
            "sessions": {"active": self.sessions_active, "total": self.sessions_total},
            "pending": self.pending.to_json(self.now) if self.pending else None,
        }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def _pending(the_plan: Plan | None, key: str) -> Pending | None:
    if the_plan is None:
        return None
    due = the_plan.for_key(key)
    if due is not None:
        return Pending(due.verb, due.reason.value, due.detail, None)
    upcoming = the_plan.upcoming.get(key)
    if upcoming is not None:
        return Pending(upcoming.action, upcoming.reason.value, "", upcoming.at)
    return None


def _build(
    ctx: Context,
    ws: Workspace,
    *,
    now: datetime,
    sessions: tuple[int, int],
    container_status: str,
    activity: Activity | None,
    the_plan: Plan | None,
) -> WorkspaceView:
    deadline = time_left = idle_for = None
    if ws.state in ACTIVE_STATES:
        deadline = effective_deadline(ws, ctx.policy_for(ws), activity)
        time_left = (deadline - now).total_seconds()
        idle_for = max(0.0, (now - last_activity(ws, activity)).total_seconds())
    return WorkspaceView(
        workspace=ws,
        now=now,
        idle_for_s=idle_for,
        deadline=deadline,
        time_left_s=time_left,
        sessions_active=sessions[0],
        sessions_total=sessions[1],
        container_status=container_status,
        pending=_pending(the_plan, ws.key),
    )


def _observe_and_plan(ctx: Context) -> tuple[Observation | None, Plan | None]:
    try:
        observation = observe(ctx, probe=False)
    except EngineUnavailable:
        return None, None
    return observation, observation.plan(ctx.policy)


def list_views(
    ctx: Context, *, include_removed: bool = False, owner: str | None = None
) -> tuple[list[WorkspaceView], bool]:
    """All workspaces' views (optionally one owner's), and whether the engine answered."""
    observation, the_plan = _observe_and_plan(ctx)
    unknown: set[str] = set()
    if observation is not None:
        records, now = observation.workspaces, observation.now
        statuses: dict[tuple[str, str], str] | None = {
            (c.engine, c.name): c.status for c in observation.containers
        }
        activity = observation.activity
        unknown = set(observation.unreachable)
    else:
        records, now, statuses, activity = ctx.store.workspaces.list(), ctx.now(), None, {}
    counts = ctx.store.sessions.counts()
    views = [
        _build(
            ctx,
            ws,
            now=now,
            sessions=counts.get(ws.key, (0, 0)),
            container_status="unknown"
            if statuses is None or ws.engine in unknown
            else statuses.get((ws.engine, ws.name), "none"),
            activity=activity.get(ws.key),
            the_plan=the_plan,
        )
        for ws in records
        if (include_removed or ws.state is not State.REMOVED)
        and (owner is None or ws.owner == owner)
    ]
    return views, observation is not None


def status(
    ctx: Context, key: str, *, owner: str | None = None, seen: ContainerInfo | None = None
) -> WorkspaceView:
    """One workspace's view at the cost of one: its containers only (one label-filtered
    list call), its sessions and checkpoints. The planner decides per workspace, so the
    pending action is the one a full pass would plan for it. ``seen``: its container as
    the caller just saw it running (a warm acquire): no engine call at all."""
    ws = get_workspace(ctx, key, owner=owner)  # a clear NotFound before any engine call
    now = ctx.now()
    sessions = [
        s
        for s in ctx.store.sessions.list(workspace_key=ws.key)
        if s.status is not SessionStatus.DEAD
    ]
    live = [s for s in sessions if s.status is SessionStatus.ACTIVE]
    activity = Activity(last_session_use=max((s.last_used for s in live), default=None))
    if seen is not None and seen.running and seen.id == ws.container_id:
        seen_running = [_observed_running(ws, seen)]
        return _view(
            ctx, ws, now=now, sessions=sessions, activity=activity, containers=seen_running
        )
    try:
        ctx = ctx.at(ws, verify=True)
        labels = {**installation_labels(ctx), LABEL_WORKSPACE: ws.key}
        listing = ctx.engine.list_containers(labels=labels)
        if ws.container_id and all(c.id != ws.container_id for c in listing):
            # one from the warm pool carries no workspace's label: found by its id
            listing += ctx.engine.list_containers(
                labels=installation_labels(ctx), ids=[ws.container_id]
            )
    except EngineUnavailable:
        return _build(
            ctx,
            ws,
            now=now,
            sessions=(len(live), len(sessions)),
            container_status="unknown",
            activity=activity,
            the_plan=None,
        )
    held = holders(ctx, listing)
    containers = [
        replace(observed_container(ctx.engine, summary, holders=held), engine=ctx.engine_name)
        for summary in listing
    ]
    containers = with_stop_requests(ctx, containers, [ws])
    return _view(ctx, ws, now=now, sessions=sessions, activity=activity, containers=containers)


def _observed_running(ws: Workspace, info: ContainerInfo) -> ObservedContainer:
    return ObservedContainer(
        id=info.id,
        name=info.name,
        key=ws.key,
        status=info.status,
        created_at=info.created_at,
        started_at=info.started_at,
        keep=ws.keep,
        engine=ws.engine,
    )


def _view(
    ctx: Context,
    ws: Workspace,
    *,
    now: datetime,
    sessions: list[Session],
    activity: Activity,
    containers: list[ObservedContainer],
) -> WorkspaceView:
    live = [s for s in sessions if s.status is SessionStatus.ACTIVE]
    the_plan = plan(
        now=now,
        policy=ctx.policy,
        workspaces=[ws],
        containers=containers,
        activity={ws.key: activity},
        checkpoints=ctx.store.checkpoints.list(workspace_key=ws.key),
    )
    mine = next((c for c in containers if c.name == ws.name), None)
    return _build(
        ctx,
        ws,
        now=now,
        sessions=(len(live), len(sessions)),
        container_status=mine.status if mine else "none",
        activity=activity,
        the_plan=the_plan,
    )
