"""Stopping, parking and removing workspaces, by request.

- ``stop``: the container stops and is kept; the next ``up`` starts it (``started``).
- ``park``: the work is saved (``saving``) and only then the container removed; the
  next ``up`` brings the work back (``restored``). A failed save removes nothing.
- ``remove``: the container goes and the record is marked ``removed``; the volume is
  kept for ``gc`` unless ``purge``, which deletes it and the record now.

A workspace in use (live sessions or running exec processes) is refused unless
``force``: cleanup must never eat a running agent's work by surprise.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from dockyard.core.actions import Reason
from dockyard.core.errors import Conflict, DockyardError, NotFound, Refused, SaveFailed
from dockyard.core.events import EventType
from dockyard.core.model import ACTIVE_STATES, State, Workspace
from dockyard.core.naming import LABEL_KEEP, is_truthy_label, validate_key
from dockyard.core.policy import save_retry_at
from dockyard.core.units import plural
from dockyard.service import checkpoints
from dockyard.service.activity import get_workspace, usage
from dockyard.service.checkpoints import current, describe
from dockyard.service.context import Context, Progress, no_progress
from dockyard.service.objects import discard_container, find_container, save_cas
from dockyard.service.saving import save_work


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
        if ws.state not in ACTIVE_STATES and ws.state not in (State.FAILED, State.SAVE_FAILED):
            return Change(ws, changed=False, detail=f"it is {ws.state}; nothing to stop")
        _refuse_if_busy(ctx, ws, force=force)
        _stop_container(ctx, ws)
        stopped = ws.transition(State.STOPPED, now=ctx.now(), reason="stopped on request")
        save_cas(ctx, stopped, expect=ws.state)
        ctx.store.sessions.end(workspace_key=ws.key)
        ctx.emit(EventType.WORKSPACE_STOPPED, stopped, reason="request")
        return Change(stopped, changed=True)


PARKABLE_STATES = frozenset(
    {*ACTIVE_STATES, State.STOPPED, State.FAILED, State.PARKING, State.SAVE_FAILED}
)
STEP_STOPPED = "parking: container stopped"
STEP_REMOVING = "parking: removing the container"


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
        _refuse_if_busy(ctx, ws, force=force)
        parked = park_locked(
            ctx, ws, reason=Reason.REQUEST, detail="parked on request", progress=progress
        )
        checkpoint = current(ctx, parked)
        return Change(parked, changed=True, detail=describe(checkpoint) if checkpoint else "")


def park_locked(
    ctx: Context,
    ws: Workspace,
    *,
    reason: Reason,
    detail: str,
    expect_revision: int | None = None,
    progress: Progress = no_progress,
) -> Workspace:
    """Save ``ws``'s work, then remove its container; the caller holds its lease.

    ``Conflict`` if its revision moved on since the decision. The intent (``parking``)
    is written first and every step after it is safe to repeat, so a manager killed at
    any point leaves a record the next holder finishes (``Recover``, or ``up``). If the
    save fails nothing is removed: the workspace is ``save_failed`` with the error, and
    the reconciler tries again later; ``SaveFailed`` tells the caller.
    """
    parking = ws
    if ws.state is not State.PARKING:
        parking = ws.transition(State.PARKING, now=ctx.now(), reason=f"{reason}: {detail}")
        if not ctx.store.workspaces.save(
            parking, expect_state=ws.state, expect_revision=expect_revision
        ):
            raise Conflict(f"workspace {ws.key!r} changed since the decision to park it")
    container = find_container(ctx, ws)
    try:
        checkpoint = save_work(ctx, parking, container, progress=progress)
    except DockyardError as exc:
        retry_at = _save_failed(ctx, parking, exc)
        raise SaveFailed(
            f"could not save workspace {ws.key!r}: {exc.message.rstrip('.')}; nothing was removed, "
            f"the reconciler tries again at {retry_at:%Y-%m-%d %H:%M:%S} UTC"
        ) from exc
    if container is not None:
        _stop_container(ctx, ws)
        progress(STEP_STOPPED)
        progress(STEP_REMOVING)
        discard_container(ctx, ws)
    parked = replace(
        parking.transition(State.PARKED, now=ctx.now(), reason=f"{reason}: {detail}"),
        container_id=None,
        warned_deadline=None,
        extended_until=None,
        checkpoint_id=checkpoint.id,
        save_attempts=0,
    )
    save_cas(ctx, parked, expect=State.PARKING)
    ctx.store.sessions.end(workspace_key=ws.key)
    ctx.emit(
        EventType.WORKSPACE_PARKED,
        parked,
        reason=reason.value,
        detail=detail,
        strategy=ws.strategy.value,
        checkpoint=checkpoint.id,
        kind=checkpoint.kind.value,
        ref=checkpoint.ref,
    )
    return parked


def _save_failed(ctx: Context, parking: Workspace, exc: DockyardError) -> datetime:
    failed = replace(
        parking.transition(State.SAVE_FAILED, now=ctx.now(), reason=f"save failed: {exc.message}"),
        save_attempts=parking.save_attempts + 1,
    )
    save_cas(ctx, failed, expect=State.PARKING)
    retry_at = save_retry_at(failed, ctx.policy_for(failed))
    ctx.emit(
        EventType.WORKSPACE_SAVE_FAILED,
        failed,
        error=exc.message,
        attempts=failed.save_attempts,
        retry_at=retry_at.isoformat(),
    )
    return retry_at


def remove(ctx: Context, key: str, *, purge: bool = False, force: bool = False) -> Change:
    """Remove the container (and with ``purge`` the volume and the record)."""
    with ctx.lock(validate_key(key)):
        ws = get_workspace(ctx, key)
        if ws.state is State.REMOVED and not purge:
            return Change(ws, changed=False, detail="already removed")
        _refuse_if_busy(ctx, ws, force=force)
        discard_container(ctx, ws)
        ctx.store.sessions.end(workspace_key=ws.key)
        if purge:
            ctx.engine.remove_volume(name=ws.volume)
            deleted = checkpoints.purge(ctx, ws)
            ctx.store.workspaces.delete(ws.key)
            gone = replace(ws, state=State.REMOVED, container_id=None)
            ctx.emit(EventType.WORKSPACE_REMOVED, gone, purged=True)
            detail = f"volume {ws.volume} and {plural(deleted, 'checkpoint')} deleted"
            return Change(gone, changed=True, detail=detail)
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
        labels = ctx.engine.inspect_container(ref=ws.container_id).labels
    except NotFound:
        return ""
    if is_truthy_label(labels.get(LABEL_KEEP)):
        return (
            f"its container was created with {LABEL_KEEP}=true and stays kept until it is "
            "recreated (park it, then up)"
        )
    return ""
