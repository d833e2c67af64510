"""Composing plans for the loop: the steps that fall due before a horizon (planned
ahead, scheduled at their moment), and the scheduled gc's items joining a plan. Pure."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from dockyard.core.actions import AnyAction, Collect, Reason, RemoveContainer
from dockyard.core.gc import GcPlan
from dockyard.core.planner import Plan


def due_between(plan: Plan, ahead: Plan, horizon: datetime) -> list[tuple[datetime, AnyAction]]:
    """What falls due between ``plan`` (now) and ``ahead`` (the plan for ``horizon``),
    with its moment: each step ``plan`` announces by then that ``ahead`` has due, as
    announced (the same verb, the same reason; else the next pass decides)."""
    due_now = {a.key for a in plan.actions}
    found = []
    for key, upcoming in plan.upcoming.items():
        if key in due_now or upcoming.at > horizon:
            continue
        action = ahead.for_key(key)
        if action is not None and action.verb is upcoming.verb and action.reason is upcoming.reason:
            found.append((upcoming.at, action))
    return found


def with_collection(plan: Plan, gc_plan: GcPlan) -> Plan:
    """``plan`` with an action per item of ``gc_plan`` that nothing in it acts on already
    (one action per workspace: the planner's own decision about a workspace wins)."""
    taken = {a.key for a in plan.actions if a.key}
    removed = {a.container_id for a in plan.actions if isinstance(a, RemoveContainer)}
    collect = tuple(
        Collect(item.key, Reason.GC, f"{item.kind} {item.name}: {item.reason}", item=item)
        for item in gc_plan.items
        if item.key not in taken and item.ref not in removed
    )
    return replace(plan, actions=(*plan.actions, *collect)) if collect else plan
