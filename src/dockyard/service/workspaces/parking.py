"""Parking: save a workspace's work, then remove its container; the caller holds its lease.

The intent (``parking``) is written first and every step after it is safe to repeat, so
a manager killed at any point leaves a record the next holder finishes (the reconciler's
``Recover``, or ``up``). If the save fails nothing is removed: the workspace is
``save_failed`` with the error, and the reconciler tries again after a backoff.
The progress messages of the steps are public (``STEP_*``): the crash-safety test stops
the manager at each one.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from dockyard.core.actions import Reason
from dockyard.core.deadlines import save_retry_at
from dockyard.core.errors import Conflict, DockyardError, SaveFailed
from dockyard.core.events import EventType
from dockyard.core.model import CloseReason, State, Workspace
from dockyard.service.runtime.context import Context, Progress, no_progress
from dockyard.service.runtime.disks import prepare_volume, release_volume
from dockyard.service.runtime.objects import discard_container, find_container
from dockyard.service.runtime.records import save_cas
from dockyard.service.snapshots.strategy import save_work, uses_volume
from dockyard.service.workspaces.containers import stop_container
from dockyard.service.workspaces.sessions import end_sessions

STEP_STOPPED = "parking: container stopped"
STEP_REMOVING = "parking: removing the container"


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
        if container is not None and uses_volume(ws):
            # a stopped container's files are read through its mounts: after a host
            # restart its capped volume's device must be there again first
            prepare_volume(ctx, ws)
        checkpoint = save_work(ctx, parking, container, progress=progress)
    except DockyardError as exc:
        retry_at = _save_failed(ctx, parking, exc)
        raise SaveFailed(
            f"could not save workspace {ws.key!r}: {exc.message.rstrip('.')}; nothing was removed, "
            f"the reconciler tries again at {retry_at:%Y-%m-%d %H:%M:%S} UTC"
        ) from exc
    if container is not None:
        ctx.ensure_locked(ws.key)  # the work is saved; still ours to remove?
        stop_container(ctx, ws)
        progress(STEP_STOPPED)
        progress(STEP_REMOVING)
        ctx.ensure_locked(ws.key)
        discard_container(ctx, ws)
        release_volume(ctx, ws)
    parked = replace(
        parking.transition(State.PARKED, now=ctx.now(), reason=f"{reason}: {detail}"),
        container_id=None,
        warned_deadline=None,
        extended_until=None,
        checkpoint_id=checkpoint.id,
        save_attempts=0,
    )
    save_cas(ctx, parked, expect=State.PARKING)
    end_sessions(ctx, ws, CloseReason.PARKED)
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
