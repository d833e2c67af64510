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

from collections.abc import Mapping
from dataclasses import dataclass, field, replace

from dockyard.core.actions import Reason
from dockyard.core.errors import (
    Busy,
    Conflict,
    DockyardError,
    InvalidInput,
    NotFound,
    QuotaExceeded,
    RestoreFailed,
)
from dockyard.core.events import EventType
from dockyard.core.model import (
    ACTIVE_STATES,
    Checkpoint,
    CheckpointKind,
    Outcome,
    PolicyOverrides,
    SaveStrategy,
    State,
    Workspace,
)
from dockyard.core.naming import (
    validate_key,
    validate_owner,
    validate_user_labels,
    workspace_names,
)
from dockyard.core.repos import parse_repo, validate_branch
from dockyard.service.checkpoints import current, describe, resolve
from dockyard.service.context import Context, Progress, no_progress
from dockyard.service.lifecycle import park_locked
from dockyard.service.objects import (
    discard_container,
    ensure_running,
    find_container,
    labels_for,
    require_image,
    save_cas,
    start_new_container,
    uses_volume,
    volume_exists,
)
from dockyard.service.provision import check_source, provision
from dockyard.service.quota import ensure_room
from dockyard.service.restoring import bring_back, image_for


@dataclass(frozen=True, slots=True)
class AcquireRequest:
    """What a caller knows and wants. ``None`` means "the default" or "as recorded"."""

    key: str
    owner: str | None = None
    default_owner: str = "default"
    repo: str | None = None
    branch: str | None = None
    image: str | None = None
    memory: int | None = None
    cpus: float | None = None
    pids: int | None = None
    labels: Mapping[str, str] = field(default_factory=dict)
    keep: bool | None = None
    strategy: SaveStrategy | None = None
    overrides: PolicyOverrides = field(default_factory=PolicyOverrides)
    from_checkpoint: str | None = None  # restore this checkpoint (of a parked workspace)


@dataclass(frozen=True, slots=True)
class AcquireResult:
    outcome: Outcome
    workspace: Workspace
    note: str | None = None
    checkpoint: Checkpoint | None = None  # what a restore brought back


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
    if request.cpus is not None and not 0 < request.cpus <= 1024:
        raise InvalidInput(f"cpus must be between 0 and 1024, got {request.cpus}")
    if request.memory is not None and request.memory < 6 * 1024**2:
        raise InvalidInput("memory must be at least 6MiB (the engine's minimum)")
    if request.pids is not None and request.pids < 16:
        raise InvalidInput(f"pids must be at least 16, got {request.pids}")


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
        info = ctx.engine.inspect_container(ref=ws.container_id)
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
    return AcquireResult(Outcome.REUSED, ws)


def _acquire_locked(ctx: Context, request: AcquireRequest, progress: Progress) -> AcquireResult:
    ws = ctx.store.workspaces.get(request.key)
    if request.from_checkpoint is not None:
        return _restore_older(ctx, ws, request, progress)
    if ws is None or ws.state in (State.REMOVED, State.EXPIRED):
        return _create(ctx, request, previous=ws, progress=progress)
    _check_owner(ws, request)
    if ws.state is State.CREATING:
        # Its creator died mid-way (we hold the lease now): undo what it made, start over.
        progress("cleaning up an interrupted creation")
        discard_container(ctx, ws)
        ctx.engine.remove_volume(name=ws.volume)
        return _create(ctx, request, previous=ws, progress=progress)
    if ws.state in (State.PARKED, State.RESTORING):
        discard_container(ctx, ws)
        return _restore(ctx, ws, current(ctx, ws), progress=progress, note=None)
    if ws.state is State.PARKING and find_container(ctx, ws) is None:
        # A park cut off after its container went: its checkpoint is the newest work.
        progress("finishing an interrupted park")
        parked = park_locked(ctx, ws, reason=Reason.INTERRUPTED, detail="finished by up")
        return _restore(ctx, parked, current(ctx, parked), progress=progress, note=None)
    return _revive(ctx, ws, progress=progress)


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
    discard_container(ctx, ws)
    return _restore(ctx, ws, checkpoint, progress=progress, note=None, rewind=True)


# -- creating -----------------------------------------------------------------------------


def _create(
    ctx: Context, request: AcquireRequest, *, previous: Workspace | None, progress: Progress
) -> AcquireResult:
    settings = ctx.settings.workspace
    image = request.image or (previous.image if previous else settings.image)
    require_image(ctx, image)
    source = check_source(parse_repo(request.repo)) if request.repo else None
    now = ctx.now()
    names = workspace_names(
        request.key, installation=ctx.installation, repo=request.repo, branch=request.branch
    )
    owner = request.owner or (previous.owner if previous else request.default_owner)
    repo = source.spec.display if source else None
    strategy = (
        request.strategy or ctx.policy.strategy_for(owner=owner, repo=repo) or settings.strategy
    )
    ws = Workspace(
        key=request.key,
        name=previous.name if previous else names.container,
        volume=previous.volume if previous else names.volume,
        owner=owner,
        image=image,
        resources=settings.resources(memory=request.memory, cpus=request.cpus, pids=request.pids),
        state=State.CREATING,
        created_at=now,
        state_changed_at=now,
        last_activity_at=now,
        repo=repo,
        branch=request.branch,
        strategy=strategy,
        keep=bool(request.keep),
        labels=dict(request.labels),
        overrides=request.overrides,
    )
    with ctx.owner_lock(ws.owner):
        ensure_room(ctx, owner=ws.owner, key=ws.key, progress=progress)
        _write_intent(ctx, ws, previous)
    made_volume = False
    try:
        volume_kept = uses_volume(ws) and volume_exists(ctx, ws)
        if uses_volume(ws) and not volume_kept:
            ctx.engine.create_volume(name=ws.volume, labels=labels_for(ctx, ws, role="volume"))
            made_volume = True
        container_id = start_new_container(ctx, ws, progress)
        if source is not None and not volume_kept:
            provision(
                ctx.engine,
                container=container_id,
                workdir=settings.workdir,
                source=source,
                branch=request.branch,
                progress=progress,
            )
        running = replace(
            ws.transition(State.RUNNING, now=ctx.now()),
            container_id=container_id,
            started_at=ctx.now(),
            last_activity_at=ctx.now(),
        )
        save_cas(ctx, running, expect=State.CREATING)
    except BaseException:
        discard_container(ctx, ws)
        if made_volume:
            ctx.engine.remove_volume(name=ws.volume)
        _undo_intent(ctx, ws, previous)
        raise
    if volume_kept:
        note = f"its work was kept on volume {ws.volume}"
        if source is not None:
            note += f"; --repo {source.spec.display} was not copied over it"
        ctx.emit(EventType.WORKSPACE_RESTORED, running, source="volume", volume=ws.volume)
        return AcquireResult(Outcome.RESTORED, running, note)
    ctx.emit(EventType.WORKSPACE_CREATED, running, image=image, repo=running.repo)
    return AcquireResult(Outcome.CREATED, running)


def _write_intent(ctx: Context, ws: Workspace, previous: Workspace | None) -> None:
    if previous is None:
        ctx.store.workspaces.insert(ws)
    elif previous.state is State.CREATING:
        save_cas(ctx, ws, expect=State.CREATING)
    elif not ctx.store.workspaces.replace_removed(ws):
        raise Conflict(f"workspace {ws.key!r} changed while it was being created; try again")


def _undo_intent(ctx: Context, ws: Workspace, previous: Workspace | None) -> None:
    if previous is None or previous.state is State.CREATING:
        ctx.store.workspaces.delete(ws.key)
    else:
        ctx.store.workspaces.save(previous, expect_state=State.CREATING)


# -- bringing back ------------------------------------------------------------------------


def _revive(ctx: Context, ws: Workspace, *, progress: Progress) -> AcquireResult:
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
                _start_existing(ctx, info.id, ws.name)
            else:
                with ctx.owner_lock(ws.owner):
                    ensure_room(ctx, owner=ws.owner, key=ws.key, progress=progress)
                    _start_existing(ctx, info.id, ws.name)
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


def _start_existing(ctx: Context, container_id: str, name: str) -> None:
    ctx.engine.start_container(ref=container_id)
    ensure_running(ctx, container_id, what=f"container {name}")


def _replace_container(
    ctx: Context, ws: Workspace, progress: Progress, *, why: str
) -> AcquireResult:
    """A new container for a live workspace whose container is lost. The kept volume holds
    its latest work (newer than any checkpoint, so none is imported); an ``image``
    workspace has only its newest snapshot."""
    if uses_volume(ws):
        note = f"{why}; a new one uses the kept volume {ws.volume}"
        return _restore(ctx, ws, None, progress=progress, note=note)
    checkpoint = current(ctx, ws)
    note = f"{why}; a new one starts from " + (
        describe(checkpoint) if checkpoint else f"the image {ws.image} (no snapshot was saved)"
    )
    return _restore(ctx, ws, checkpoint, progress=progress, note=note)


def _restore(
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
        ctx.engine.create_volume(name=ws.volume, labels=labels_for(ctx, ws, role="volume"))
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
