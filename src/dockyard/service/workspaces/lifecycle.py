"""Stopping, parking and removing workspaces, by request.

- ``stop``: the container stops and is kept; the next ``up`` starts it (``started``).
- ``park``: the work is saved (``parking``) and only then the container removed; the
  next ``up`` brings the work back (``restored``). A failed save removes nothing.
- ``remove``: the container goes and the record is marked ``removed``; the volume is
  kept for ``gc`` unless ``purge``, which deletes it and the record now.

A workspace in use (live sessions or running exec processes) is refused unless
``force``: cleanup must never eat a running agent's work by surprise.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from dockyard.core.actions import Reason
from dockyard.core.checkpoints import describe
from dockyard.core.errors import Conflict, NotFound, Refused
from dockyard.core.events import EventType
from dockyard.core.model import ACTIVE_STATES, CloseReason, State, Workspace
from dockyard.core.naming import LABEL_KEEP, is_truthy_label, validate_key
from dockyard.core.units import plural
from dockyard.service.runtime.context import Context, Progress, no_progress
from dockyard.service.runtime.disks import drop_volume, release_volume
from dockyard.service.runtime.objects import discard_container
from dockyard.service.runtime.records import get_workspace, save_cas
from dockyard.service.snapshots import checkpoints
from dockyard.service.snapshots.checkpoints import current
from dockyard.service.workspaces.containers import stop_container
from dockyard.service.workspaces.parking import park_locked
from dockyard.service.workspaces.sessions import end_sessions, usage


@dataclass(frozen=True, slots=True)
class Change:
    """What a stop/park/remove did; ``changed`` is False when it was already so."""

    workspace: Workspace
    changed: bool
    detail: str = ""


def _refuse_if_busy(ctx: Context, ws: Workspace, *, force: bool) -> None:
    if force:
        return
    in_use = usage(ctx, ws)
    if in_use.busy:
        raise Refused(f"workspace {ws.key!r} is in use ({in_use.describe()})")


def stop(ctx: Context, key: str, *, force: bool = False) -> Change:
    """Stop the container and keep it; a stopped workspace restarts on the next ``up``."""
    with ctx.lock(validate_key(key)):
        ws = get_workspace(ctx, key)
        ctx = ctx.at(ws, verify=True)
        if ws.state is State.STOPPED:
            return Change(ws, changed=False, detail="already stopped")
        if ws.state not in ACTIVE_STATES and ws.state not in (State.FAILED, State.SAVE_FAILED):
            return Change(ws, changed=False, detail=f"it is {ws.state}; nothing to stop")
        _refuse_if_busy(ctx, ws, force=force)
        stop_container(ctx, ws)
        stopped = ws.transition(State.STOPPED, now=ctx.now(), reason="stopped on request")
        save_cas(ctx, stopped, expect=ws.state)
        end_sessions(ctx, ws, CloseReason.STOPPED)
        ctx.emit(EventType.WORKSPACE_STOPPED, stopped, reason="request")
        return Change(stopped, changed=True)


PARKABLE_STATES = frozenset(
    {*ACTIVE_STATES, State.STOPPED, State.FAILED, State.PARKING, State.SAVE_FAILED}
)


def park(
    ctx: Context, key: str, *, force: bool = False, progress: Progress = no_progress
) -> Change:
    """Save the work and remove the container; ``up`` restores it later."""
    with ctx.lock(validate_key(key)):
        ws = get_workspace(ctx, key)
        if ws.state is State.PARKED:
            return Change(ws, changed=False, detail="already parked")
        if ws.state not in PARKABLE_STATES:
            return Change(ws, changed=False, detail=f"it is {ws.state}; nothing to park")
        ctx = ctx.at(ws, verify=True)
        _refuse_if_busy(ctx, ws, force=force)
        parked = park_locked(
            ctx, ws, reason=Reason.REQUEST, detail="parked on request", progress=progress
        )
        checkpoint = current(ctx, parked)
        return Change(parked, changed=True, detail=describe(checkpoint) if checkpoint else "")


def remove(ctx: Context, key: str, *, purge: bool = False, force: bool = False) -> Change:
    """Remove the container (and with ``purge`` the volume and the record)."""
    with ctx.lock(validate_key(key)):
        ws = get_workspace(ctx, key)
        if ws.state is State.REMOVED and not purge:
            return Change(ws, changed=False, detail="already removed")
        ctx = ctx.at(ws, verify=True)
        _refuse_if_busy(ctx, ws, force=force)
        ctx.ensure_locked(ws.key)
        discard_container(ctx, ws)
        end_sessions(ctx, ws, CloseReason.REMOVED)
        if purge:
            ctx.ensure_locked(ws.key)
            drop_volume(ctx, ws.volume)
            deleted = checkpoints.purge(ctx, ws)
            ctx.store.workspaces.delete(ws.key)
            gone = replace(ws, state=State.REMOVED, container_id=None)
            ctx.emit(EventType.WORKSPACE_REMOVED, gone, purged=True)
            detail = f"volume {ws.volume} and {plural(deleted, 'checkpoint')} deleted"
            return Change(gone, changed=True, detail=detail)
        release_volume(ctx, ws)
        removed = replace(
            ws.transition(State.REMOVED, now=ctx.now(), reason="removed on request"),
            container_id=None,
        )
        save_cas(ctx, removed, expect=ws.state)
        ctx.emit(EventType.WORKSPACE_REMOVED, removed, purged=False)
        return Change(
            removed, changed=True, detail=f"volume {ws.volume} kept until gc or rm --purge"
        )


def set_keep(ctx: Context, key: str, *, keep: bool) -> Change:
    """Mark a workspace as never to be cleaned up (or not). The record decides; the
    container's ``dockyard.keep`` label (set at creation) is honoured too."""
    for _attempt in range(5):
        ws = get_workspace(ctx, key)
        if ws.keep == keep:
            return Change(ws, changed=False, detail="already " + ("kept" if keep else "not kept"))
        updated = replace(ws, keep=keep)
        if ctx.store.workspaces.save(updated, expect_state=ws.state, expect_revision=ws.revision):
            return Change(updated, changed=True, detail=_label_note(ctx, updated))
    raise Conflict(f"workspace {key!r} kept changing; try again")


def _label_note(ctx: Context, ws: Workspace) -> str:
    """Engine labels cannot change: a container created kept stays kept until recreated."""
    if ws.keep or ws.container_id is None:
        return ""
    try:
        labels = ctx.at(ws).engine.inspect_container(ref=ws.container_id).labels
    except NotFound:
        return ""
    if is_truthy_label(labels.get(LABEL_KEEP)):
        return (
            f"its container was created with {LABEL_KEEP}=true and stays kept until it is "
            "recreated (park it, then up)"
        )
    return ""
