"""The per-owner quota, decided: how many live workspaces an owner has, and which one to
park for room (the one idle the longest, if any is idle at all). Pure."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

from dockyard.core.model import ACTIVE_STATES, QUOTA_STATES, Workspace
from dockyard.core.planner import Activity, last_activity
from dockyard.core.policy import Policy


def quota_victim(
    *,
    now: datetime,
    policy: Policy,
    workspaces: Sequence[Workspace],
    activity: Mapping[str, Activity],
    exclude: str,
) -> Workspace | None:
    """The owner's live workspace to park for room: the one idle longest, if any is idle.

    Idle here means not in use (no live session use, nothing busy) for at least
    ``quota_idle_after``: an agent between two commands, its model thinking, is not idle.
    """
    candidates = [
        ws
        for ws in workspaces
        if ws.key != exclude
        and looks_idle(ws, now=now, policy=policy, activity=activity.get(ws.key))
    ]
    return min(candidates, key=lambda ws: last_activity(ws, activity.get(ws.key)), default=None)


def looks_idle(ws: Workspace, *, now: datetime, policy: Policy, activity: Activity | None) -> bool:
    """Running, not kept, not busy, and unused for at least ``quota_idle_after``."""
    if ws.keep or ws.state not in ACTIVE_STATES or (activity is not None and activity.busy):
        return False
    return now - last_activity(ws, activity) >= policy.quota_idle_after


def live_count(workspaces: Sequence[Workspace], *, exclude: str) -> int:
    """Workspaces that hold (or are getting) a running container, for the owner quota."""
    return sum(1 for ws in workspaces if ws.key != exclude and ws.state in QUOTA_STATES)
