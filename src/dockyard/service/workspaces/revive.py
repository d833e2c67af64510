"""Bringing a workspace back: start its stopped container, replace a lost one, or restore
a parked one from its checkpoint.

A restore writes its intent (``restoring``) first; if anything fails the workspace goes
back to where it was (parked) and the new container is removed. A live workspace whose
container was lost gets a new one on its kept volume (newer than any checkpoint, so none
is imported); an ``image`` workspace has only its newest snapshot.
"""

from __future__ import annotations

from dataclasses import replace

from dockyard.core.checkpoints import describe
from dockyard.core.errors import Busy, DockyardError, NotFound, QuotaExceeded, RestoreFailed
from dockyard.core.events import EventType
from dockyard.core.model import ACTIVE_STATES, Checkpoint, CheckpointKind, Outcome, State, Workspace
from dockyard.engine.models import ContainerInfo
from dockyard.service.runtime.context import Context, Progress
from dockyard.service.runtime.disks import make_volume, prepare_volume
from dockyard.service.runtime.objects import (
    discard_container,
    require_image,
    volume_exists,
)
from dockyard.service.runtime.records import save_cas
from dockyard.service.snapshots.checkpoints import current
from dockyard.service.snapshots.strategy import bring_back, image_for, uses_volume
from dockyard.service.workspaces.containers import ensure_running, start_new_container
from dockyard.service.workspaces.networks import join_owners_network
from dockyard.service.workspaces.quota import ensure_room
from dockyard.service.workspaces.requests import AcquireResult


def revive(ctx: Context, ws: Workspace, *, progress: Progress) -> AcquireResult:
    """A record with a container that should exist: reuse, start, or rebuild it."""
    info = None
    for ref in filter(None, (ws.container_id, ws.name)):
        try:
            info = ctx.engine.inspect_container(ref=ref)
            break
        except NotFound:
            continue
    now = ctx.now()
    if info is None:
        failed = ws
        if ws.state is not State.FAILED:
            failed = ws.transition(State.FAILED, now=now, reason="its container vanished")
            save_cas(ctx, failed, expect=ws.state)
        return _replace_container(ctx, failed, progress, why="its container was gone")
    if info.running:
        outcome, event = Outcome.REUSED, EventType.WORKSPACE_REUSED
    else:
        progress(f"starting container {ws.name}")
        try:
            if ws.state in ACTIVE_STATES:  # already counted as live
                _start_existing(ctx, ws, info)
            else:
                with ctx.owner_lock(ws.owner):
                    ensure_room(ctx, owner=ws.owner, key=ws.key, progress=progress)
                    _start_existing(ctx, ws, info)
        except (Busy, QuotaExceeded):
            raise
        except DockyardError as exc:
            discard_container(ctx, ws)
            failed = ws.transition(State.FAILED, now=now, reason=f"would not start: {exc}")
            save_cas(ctx, failed, expect=ws.state)
            why = f"its container would not start ({exc})"
            return _replace_container(ctx, failed, progress, why=why)
        outcome, event = Outcome.STARTED, EventType.WORKSPACE_STARTED
    revived = replace(
        ws.transition(State.RUNNING, now=now),
        container_id=info.id,
        last_activity_at=now,
        started_at=ws.started_at if outcome is Outcome.REUSED else now,
        warned_deadline=None,
        extended_until=ws.extended_until if outcome is Outcome.REUSED else None,
    )
    save_cas(ctx, revived, expect=ws.state)
    ctx.emit(event, revived)
    return AcquireResult(outcome, revived)


def _start_existing(ctx: Context, ws: Workspace, info: ContainerInfo) -> None:
    join_owners_network(ctx, ws.owner, info)
    prepare_volume(ctx, ws)
    ctx.engine.start_container(ref=info.id)
    ensure_running(ctx, info.id, what=f"container {ws.name}")


def _replace_container(
    ctx: Context, ws: Workspace, progress: Progress, *, why: str
) -> AcquireResult:
    """A new container for a live workspace whose container is lost. The kept volume holds
    its latest work (newer than any checkpoint, so none is imported); an ``image``
    workspace has only its newest snapshot."""
    if uses_volume(ws):
        note = f"{why}; a new one uses the kept volume {ws.volume}"
        return restore(ctx, ws, None, progress=progress, note=note)
    checkpoint = current(ctx, ws)
    note = f"{why}; a new one starts from " + (
        describe(checkpoint) if checkpoint else f"the image {ws.image} (no snapshot was saved)"
    )
    return restore(ctx, ws, checkpoint, progress=progress, note=note)


def restore(
    ctx: Context,
    ws: Workspace,
    checkpoint: Checkpoint | None,
    *,
    progress: Progress,
    note: str | None,
    rewind: bool = False,
) -> AcquireResult:
    """A new container for a workspace whose container is gone, filled from ``checkpoint``
    (None: from the kept volume as it is). If anything fails the workspace goes back to
    where it was (parked), and the new container is removed."""
    image = image_for(ws, checkpoint)
    if image == ws.image:
        require_image(ctx, image)
    else:
        try:
            ctx.engine.inspect_image(ref=image)
        except NotFound:
            raise RestoreFailed(
                f"cannot restore workspace {ws.key!r}: the image of {describe(checkpoint)} is gone"
                if checkpoint
                else f"image {image!r} is gone"
            ) from None
    if ws.state is State.RESTORING:  # its restorer died: fall back to parked if this fails
        restoring, fallback = ws, ws.transition(State.PARKED, now=ctx.now())
    else:
        restoring, fallback = ws.transition(State.RESTORING, now=ctx.now()), ws
        with ctx.owner_lock(ws.owner):
            ensure_room(ctx, owner=ws.owner, key=ws.key, progress=progress)
            save_cas(ctx, restoring, expect=ws.state)
    if uses_volume(ws) and not volume_exists(ctx, ws):
        make_volume(ctx, ws)
        if checkpoint is None or checkpoint.kind is CheckpointKind.VOLUME:
            note = f"its volume {ws.volume} was gone: the workspace starts empty"
    try:
        container_id = start_new_container(ctx, restoring, progress, image=image)
        try:
            bring_back(ctx, checkpoint, container=container_id, rewind=rewind, progress=progress)
        except BaseException:
            ctx.engine.remove_container(ref=container_id)
            raise
    except BaseException:
        ctx.store.workspaces.save(fallback, expect_state=State.RESTORING)
        raise
    now = ctx.now()
    running = replace(
        restoring.transition(State.RUNNING, now=now),
        container_id=container_id,
        started_at=now,
        last_activity_at=now,
        warned_deadline=None,
        extended_until=None,
        checkpoint_id=checkpoint.id if checkpoint else ws.checkpoint_id,
    )
    save_cas(ctx, running, expect=State.RESTORING)
    ctx.emit(
        EventType.WORKSPACE_RESTORED,
        running,
        source=checkpoint.kind.value if checkpoint else "volume",
        checkpoint=checkpoint.id if checkpoint else None,
        volume=ws.volume if uses_volume(ws) else None,
    )
    if note is None and checkpoint is not None:
        note = f"from {describe(checkpoint)}"
    return AcquireResult(Outcome.RESTORED, running, note, checkpoint)
