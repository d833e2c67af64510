"""Creating a workspace: its intent first, then its volume and container, all undone on
failure.

Creation writes its intent (a ``creating`` record) before touching the engine, and undoes
every step it made if a later one fails or is interrupted: no container left in
``created``, no empty volume, no record. A key whose volume was kept (removed without
``--purge``) gets its work back on that volume (``restored``). A key that can take a
ready container of the warm pool takes it in the intent's own write (``pool.take``),
and is undone the same way.
"""

from __future__ import annotations

from dataclasses import replace

from dockyard.core.disks import check_disk
from dockyard.core.errors import Conflict, DiskError, InvalidValue
from dockyard.core.events import EventType
from dockyard.core.model import Outcome, SaveStrategy, State, Workspace
from dockyard.core.naming import validate_new_key, workspace_names
from dockyard.core.pool import PoolMember
from dockyard.core.repos import parse_repo
from dockyard.service.runtime.context import Context, Progress
from dockyard.service.runtime.disks import disks_unavailable, drop_volume, make_volume
from dockyard.service.runtime.objects import discard_container, require_image, volume_exists
from dockyard.service.runtime.records import save_cas
from dockyard.service.snapshots.strategy import strategy_for, uses_volume
from dockyard.service.workspaces import pool
from dockyard.service.workspaces.containers import start_new_container
from dockyard.service.workspaces.placement import choose_engine, place_held
from dockyard.service.workspaces.provision import check_source, provision
from dockyard.service.workspaces.quota import ensure_room
from dockyard.service.workspaces.requests import AcquireRequest, AcquireResult


def create(
    ctx: Context, request: AcquireRequest, *, previous: Workspace | None, progress: Progress
) -> AcquireResult:
    if previous is None:
        validate_new_key(request.key)
    ctx = ctx.on(choose_engine(ctx, request, previous=previous))
    ctx.verify_engine()
    settings = ctx.settings.workspace
    image = request.image or (previous.image if previous else settings.image)
    image_id = require_image(ctx, image).id
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
    disk = _disk(ctx, request, previous, owner=owner, repo=repo, strategy=strategy)
    ws = Workspace(
        key=request.key,
        name=previous.name if previous else names.container,
        volume=previous.volume if previous else names.volume,
        owner=owner,
        image=image,
        resources=settings.resources(
            memory=request.memory, cpus=request.cpus, pids=request.pids, disk=disk
        ),
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
        engine=ctx.engine_name,
    )
    ws, member = _reserve(ctx, ws, previous, progress, image_id=image_id)
    made_volume = False
    try:
        if member is not None:
            made_volume, volume_kept = uses_volume(ws), False
            container_id = pool.adopt(ctx, ws, member, progress)
        else:
            volume_kept = uses_volume(ws) and volume_exists(ctx, ws)
            if uses_volume(ws) and not volume_kept:
                make_volume(ctx, ws)
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
            drop_volume(ctx, ws.volume)
        _undo_intent(ctx, ws, previous)
        raise
    if volume_kept:
        note = f"its work was kept on volume {ws.volume}"
        if source is not None:
            note += f"; --repo {source.spec.display} was not copied over it"
        ctx.emit(EventType.WORKSPACE_RESTORED, running, source="volume", volume=ws.volume)
        return AcquireResult(Outcome.RESTORED, running, note)
    pooled = {"pool": member.name} if member is not None else {}
    ctx.emit(EventType.WORKSPACE_CREATED, running, image=image, repo=running.repo, **pooled)
    return AcquireResult(Outcome.CREATED, running)


def _reserve(
    ctx: Context, ws: Workspace, previous: Workspace | None, progress: Progress, *, image_id: str
) -> tuple[Workspace, PoolMember | None]:
    """Make room under the owner's quota and write the intent: on a ready member of
    the warm pool if one fits (the record then holds its container and volume), else
    as a plain ``creating`` record. A key whose work was kept on its volume needs that
    volume, so it never takes a member."""
    poolable = previous is None or (
        previous.state in {State.REMOVED, State.EXPIRED}
        and not (uses_volume(previous) and volume_exists(ctx, previous))
    )
    with ctx.owner_lock(ws.owner), place_held(ctx, ws.engine):
        ensure_room(ctx, owner=ws.owner, key=ws.key, progress=progress)
        taken = (
            pool.take(ctx, ws, image_id=image_id, reuse=previous is not None) if poolable else None
        )
        if taken is None:
            _write_intent(ctx, ws, previous)
            return ws, None
        return taken


def _disk(
    ctx: Context,
    request: AcquireRequest,
    previous: Workspace | None,
    *,
    owner: str,
    repo: str | None,
    strategy: SaveStrategy,
) -> int | None:
    """The disk cap of a new workspace: asked for, else its rule's, else the setting's.
    A key whose volume was kept keeps the cap that volume was made with."""
    if previous is not None and previous.resources.disk_bytes is not None:
        return previous.resources.disk_bytes
    asked = check_disk(request.disk)
    disk = asked or ctx.policy.disk_for(owner=owner, repo=repo) or ctx.settings.workspace.disk
    if disk is not None and not strategy_for(strategy).uses_volume:
        if asked is None:
            return None  # a default cannot apply: the work lives in the container
        raise InvalidValue(f"--disk needs a volume; strategy {strategy} keeps no volume")
    if disk is not None:
        why = disks_unavailable(ctx)
        if why is not None:
            raise DiskError(f"cannot cap the disk of workspace {request.key!r}: {why}")
    return disk


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
