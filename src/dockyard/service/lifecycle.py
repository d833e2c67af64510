"""Stopping, parking and removing workspaces, by request.

- ``stop``: the container stops and is kept; the next ``up`` starts it (``started``).
- ``park``: the work is saved and the container removed; the next ``up`` brings the
  work back (``restored``). With the ``volume`` strategy the save is the kept volume.
- ``remove``: the container goes and the record is marked ``removed``; the volume is
  kept for ``gc`` unless ``purge``, which deletes it and the record now.

A workspace in use (live sessions or running exec processes) is refused unless
``force``: cleanup must never eat a running agent's work by surprise.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from dockyard.core.actions import Reason
from dockyard.core.errors import Conflict, NotFound, Refused
from dockyard.core.events import EventType
from dockyard.core.model import ACTIVE_STATES, State, Workspace
from dockyard.core.naming import LABEL_KEEP, is_truthy_label, validate_key
from dockyard.service.activity import get_workspace, usage
from dockyard.service.context import Context
from dockyard.service.objects import discard_container, save_cas


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


def _stop_container(ctx: Context, ws: Workspace) -> None:
    timeout = ctx.settings.workspace.stop_timeout.total_seconds()
    for ref in filter(None, (ws.container_id, ws.name)):
        try:
            ctx.engine.stop_container(ref=ref, timeout_s=timeout)
        except NotFound:
            continue
        return


def stop(ctx: Context, key: str, *, force: bool = False) -> Change:
    """Stop the container and keep it; a stopped workspace restarts on the next ``up``."""
    with ctx.lock(validate_key(key)):
        ws = get_workspace(ctx, key)
        if ws.state is State.STOPPED:
            return Change(ws, changed=False, detail="already stopped")
        if ws.state not in ACTIVE_STATES and ws.state is not State.FAILED:
            return Change(ws, changed=False, detail=f"it is {ws.state}; nothing to stop")
        _refuse_if_busy(ctx, ws, force=force)
        _stop_container(ctx, ws)
        stopped = ws.transition(State.STOPPED, now=ctx.now(), reason="stopped on request")
        save_cas(ctx, stopped, expect=ws.state)
        ctx.store.end_sessions(workspace_key=ws.key)
        ctx.emit(EventType.WORKSPACE_STOPPED, stopped, reason="request")
        return Change(stopped, changed=True)


PARKABLE_STATES = frozenset({*ACTIVE_STATES, State.STOPPED, State.FAILED, State.PARKING})


def park(ctx: Context, key: str, *, force: bool = False) -> Change:
    """Save the work and remove the container; ``up`` restores it later."""
    with ctx.lock(validate_key(key)):
        ws = get_workspace(ctx, key)
        if ws.state is State.PARKED:
            return Change(ws, changed=False, detail="already parked")
        if ws.state not in PARKABLE_STATES:
            return Change(ws, changed=False, detail=f"it is {ws.state}; nothing to park")
        _refuse_if_busy(ctx, ws, force=force)
        parked = park_locked(ctx, ws, reason=Reason.REQUEST, detail="parked on request")
        return Change(parked, changed=True, detail=f"work kept on volume {ws.volume}")


def park_locked(
    ctx: Context,
    ws: Workspace,
    *,
    reason: Reason,
    detail: str,
    expect_revision: int | None = None,
) -> Workspace:
    """Park ``ws``, whose lease the caller holds; ``Conflict`` if its revision moved on.

    The intent (``parking``) is written first, so a manager killed midway leaves a record
    that says what it was doing; the next holder finishes the park.
    """
    parking = ws
    if ws.state is not State.PARKING:
        parking = ws.transition(State.PARKING, now=ctx.now(), reason=f"{reason}: {detail}")
        if not ctx.store.save(parking, expect_state=ws.state, expect_revision=expect_revision):
            raise Conflict(f"workspace {ws.key!r} changed since the decision to park it")
    _stop_container(ctx, ws)
    discard_container(ctx, ws)
    parked = replace(
        parking.transition(State.PARKED, now=ctx.now(), reason=f"{reason}: {detail}"),
        container_id=None,
        warned_deadline=None,
        extended_until=None,
    )
    save_cas(ctx, parked, expect=State.PARKING)
    ctx.store.end_sessions(workspace_key=ws.key)
    ctx.emit(
        EventType.WORKSPACE_PARKED,
        parked,
        reason=reason.value,
        detail=detail,
        strategy="volume",
        volume=ws.volume,
    )
    return parked


def remove(ctx: Context, key: str, *, purge: bool = False, force: bool = False) -> Change:
    """Remove the container (and with ``purge`` the volume and the record)."""
    with ctx.lock(validate_key(key)):
        ws = get_workspace(ctx, key)
        if ws.state is State.REMOVED and not purge:
            return Change(ws, changed=False, detail="already removed")
        _refuse_if_busy(ctx, ws, force=force)
        discard_container(ctx, ws)
        ctx.store.end_sessions(workspace_key=ws.key)
        if purge:
            ctx.engine.remove_volume(name=ws.volume)
            ctx.store.delete(ws.key)
            gone = replace(ws, state=State.REMOVED, container_id=None)
            ctx.emit(EventType.WORKSPACE_REMOVED, gone, purged=True)
            return Change(gone, changed=True, detail=f"volume {ws.volume} deleted")
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
        if ctx.store.save(updated, expect_state=ws.state, expect_revision=ws.revision):
            return Change(updated, changed=True, detail=_label_note(ctx, updated))
    raise Conflict(f"workspace {key!r} kept changing; try again")


def _label_note(ctx: Context, ws: Workspace) -> str:
    """Engine labels cannot change: a container created kept stays kept until recreated."""
    if ws.keep or ws.container_id is None:
        return ""
    try:
        labels = ctx.engine.inspect_container(ref=ws.container_id).labels
    except NotFound:
        return ""
    if is_truthy_label(labels.get(LABEL_KEEP)):
        return (
            f"its container was created with {LABEL_KEEP}=true and stays kept until it is "
            "recreated (park it, then up)"
        )
    return ""
