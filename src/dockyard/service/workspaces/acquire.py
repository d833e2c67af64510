"""Acquire a workspace by key: create it, reuse it warm, start it, or bring it back.

The warm path takes no lock: read the record, inspect the container, record activity
(a compare-and-set on the state, so a concurrent park wins or loses cleanly). Anything
else happens under the workspace's lease, after re-reading the record:

    record          container            -> outcome
    none/removed    -                    -> created (or restored, if its volume was kept)
    running         running              -> reused
    running/stopped/failed  exited       -> started
    any live        gone                 -> restored (new container on the kept volume)
    parked          -                    -> restored
    creating/restoring (holder died)     -> leftovers cleaned, then created/restored

Creation writes its intent (a ``creating`` record) before touching the engine, and undoes
every step it made if a later one fails or is interrupted: no container left in
``created``, no empty volume, no record. Validation (key, image, repo path, resources)
happens before the first write.
"""

from __future__ import annotations

from dataclasses import replace

from dockyard.core.actions import Reason
from dockyard.core.errors import Conflict, InvalidValue, NotFound
from dockyard.core.events import EventType
from dockyard.core.model import (
    ACTIVE_STATES,
    Outcome,
    State,
    Workspace,
)
from dockyard.core.naming import (
    validate_image,
    validate_key,
    validate_owner,
    validate_user_labels,
)
from dockyard.core.repos import parse_repo, validate_branch
from dockyard.service.runtime.context import Context, Progress, engine_of, no_progress
from dockyard.service.runtime.disks import drop_volume
from dockyard.service.runtime.objects import discard_container, find_container
from dockyard.service.snapshots.checkpoints import current, resolve
from dockyard.service.workspaces.create import create
from dockyard.service.workspaces.parking import park_locked
from dockyard.service.workspaces.placement import restore_engine
from dockyard.service.workspaces.requests import AcquireRequest, AcquireResult
from dockyard.service.workspaces.revive import restore, revive


def acquire(
    ctx: Context, request: AcquireRequest, *, progress: Progress = no_progress
) -> AcquireResult:
    key = validate_key(request.key)
    _validate_request(request)
    warm = None if request.from_checkpoint else _try_warm(ctx, key, request)
    if warm is not None:
        return warm
    with ctx.lock(key):
        return _acquire_locked(ctx, request, progress)


def _validate_request(request: AcquireRequest) -> None:
    if request.owner is not None:
        validate_owner(request.owner)
    validate_owner(request.default_owner)
    if request.branch is not None:
        validate_branch(request.branch)
    if request.repo is not None:
        parse_repo(request.repo)
    validate_user_labels(request.labels)
    if request.image is not None:
        validate_image(request.image)
    if request.cpus is not None and not 0 < request.cpus <= 1024:
        raise InvalidValue(f"cpus must be between 0 and 1024, got {request.cpus}")
    if request.memory is not None and request.memory < 6 * 1024**2:
        raise InvalidValue("memory must be at least 6MiB (the engine's minimum)")
    if request.pids is not None and request.pids < 16:
        raise InvalidValue(f"pids must be at least 16, got {request.pids}")


def _check_owner(ws: Workspace, request: AcquireRequest) -> None:
    if request.owner is not None and request.owner != ws.owner:
        raise Conflict(f"workspace {ws.key!r} belongs to owner {ws.owner!r}, not {request.owner!r}")


def _try_warm(ctx: Context, key: str, request: AcquireRequest) -> AcquireResult | None:
    """Reuse a running workspace without taking its lock; None means "go the slow way"."""
    ws = ctx.store.workspaces.get(key)
    if ws is None or ws.state not in ACTIVE_STATES or ws.container_id is None:
        return None
    _check_owner(ws, request)
    try:
        with engine_of(ws):
            info = ctx.at(ws).engine.inspect_container(ref=ws.container_id)
    except NotFound:
        return None
    now = ctx.now()
    if not info.running or not ctx.store.workspaces.touch(key, at=now):
        return None
    ws = replace(
        ws,
        state=State.RUNNING,
        last_activity_at=max(now, ws.last_activity_at),
        warned_deadline=None,
    )
    ctx.emit(EventType.WORKSPACE_REUSED, ws)
    return AcquireResult(Outcome.REUSED, ws, container=info)


def _acquire_locked(ctx: Context, request: AcquireRequest, progress: Progress) -> AcquireResult:
    ws = ctx.store.workspaces.get(request.key)
    if request.from_checkpoint is not None:
        return _restore_older(ctx, ws, request, progress)
    if ws is None or ws.state in (State.REMOVED, State.EXPIRED):
        return create(ctx, request, previous=ws, progress=progress)
    _check_owner(ws, request)
    if ws.state in (State.PARKED, State.RESTORING):
        return _restore_parked(ctx, ws, progress)
    # what is on record lives on its engine: nothing is made or restored anywhere else
    # while that engine is not answering as the daemon on record
    ctx = ctx.at(ws, verify=True)
    if ws.state is State.CREATING:
        # Its creator died mid-way (we hold the lease now): undo what it made, start over.
        progress("cleaning up an interrupted creation")
        discard_container(ctx, ws)
        drop_volume(ctx, ws.volume)
        return create(ctx, request, previous=ws, progress=progress)
    if ws.state is State.PARKING and find_container(ctx, ws) is None:
        # A park cut off after its container went: its checkpoint is the newest work.
        progress("finishing an interrupted park")
        parked = park_locked(ctx, ws, reason=Reason.INTERRUPTED, detail="finished by up")
        return restore(ctx, parked, current(ctx, parked), progress=progress, note=None)
    return revive(ctx, ws, progress=progress)


def _restore_parked(ctx: Context, ws: Workspace, progress: Progress) -> AcquireResult:
    """Parked (or its restore cut off) ``ws`` back on its engine, or on another one if
    its own drains and its work can move (a leftover container on the old engine is
    that engine's orphan then)."""
    target = restore_engine(ctx, ws) if ws.state is State.PARKED else ws.engine
    if target != ws.engine:
        moved = replace(ws, engine=target)
        ctx = ctx.at(moved, verify=True)
        progress(f"restoring on engine {target} (engine {ws.engine} drains)")
        return restore(ctx, moved, current(ctx, moved), progress=progress, note=None)
    ctx = ctx.at(ws, verify=True)
    discard_container(ctx, ws)
    return restore(ctx, ws, current(ctx, ws), progress=progress, note=None)


#: States from which ``up --from`` may restore: the workspace has no container.
REWINDABLE_STATES = frozenset({State.PARKED, State.RESTORING, State.REMOVED})


def _restore_older(
    ctx: Context, ws: Workspace | None, request: AcquireRequest, progress: Progress
) -> AcquireResult:
    """``up --from CHECKPOINT``: bring back a chosen checkpoint of a parked workspace."""
    if ws is None:
        raise NotFound(f"no workspace {request.key!r}")
    _check_owner(ws, request)
    if ws.state not in REWINDABLE_STATES:
        raise Conflict(
            f"workspace {ws.key!r} is {ws.state}; park it first (dockyard park {ws.key}), "
            "then restore a checkpoint with up --from"
        )
    checkpoint = resolve(ctx, ws, request.from_checkpoint or "")
    ctx = ctx.at(ws, verify=True)
    discard_container(ctx, ws)
    return restore(ctx, ws, checkpoint, progress=progress, note=None, rewind=True)
