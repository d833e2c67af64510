"""The engine objects of a workspace (its container and volume), made and removed safely.

Shared by every use case that creates, revives or removes containers. Two rules live
here: a container is created and started as one step that leaves nothing behind when
the start fails (the engine keeps failed starts in ``created``), and nothing is removed
unless its labels say it belongs to this installation and this workspace.
"""

from __future__ import annotations

from dockyard.core.errors import Conflict, EngineError, NotFound
from dockyard.core.model import SaveStrategy, State, Workspace
from dockyard.core.naming import LABEL_INSTALLATION, LABEL_WORKSPACE, ownership_labels
from dockyard.engine.models import ContainerInfo, ContainerSpec, VolumeMount
from dockyard.service.context import Context, Progress


def require_image(ctx: Context, image: str) -> None:
    try:
        ctx.engine.inspect_image(ref=image)
    except NotFound:
        raise NotFound(
            f"image {image!r} not found on the engine at {ctx.engine.url}; "
            "build it first (scripts/setup builds the default image) or pass --image"
        ) from None


def volume_exists(ctx: Context, ws: Workspace) -> bool:
    try:
        volume = ctx.engine.inspect_volume(name=ws.volume)
    except NotFound:
        return False
    if volume.labels.get(LABEL_INSTALLATION) != ctx.installation or (
        volume.labels.get(LABEL_WORKSPACE) != ws.key
    ):
        raise Conflict(f"volume {ws.volume!r} exists but does not belong to workspace {ws.key!r}")
    return True


def labels_for(ctx: Context, ws: Workspace, *, role: str) -> dict[str, str]:
    own = ownership_labels(
        installation=ctx.installation, key=ws.key, owner=ws.owner, keep=ws.keep, role=role
    )
    return {**ws.labels, **own}


def uses_volume(ws: Workspace) -> bool:
    """The ``image`` strategy keeps the work in the container's own filesystem, which is
    what ``docker commit`` snapshots; every other strategy keeps it on a named volume."""
    return ws.strategy is not SaveStrategy.IMAGE


def container_spec(ctx: Context, ws: Workspace, *, image: str | None = None) -> ContainerSpec:
    settings = ctx.settings.workspace
    return ContainerSpec(
        name=ws.name,
        image=image or ws.image,
        command=settings.command,
        labels=labels_for(ctx, ws, role="workspace"),
        mounts=[VolumeMount(volume=ws.volume, target=settings.workdir)] if uses_volume(ws) else [],
        env={"DOCKYARD_WORKSPACE": ws.key},
        workdir=settings.workdir,
        memory_bytes=ws.resources.memory_bytes,
        nano_cpus=ws.resources.nano_cpus,
        pids_limit=ws.resources.pids,
        init=True,
        hostname=ws.name[:63],
        network=settings.network,
    )


def start_new_container(
    ctx: Context, ws: Workspace, progress: Progress, *, image: str | None = None
) -> str:
    """Create and start the workspace's container; on failure nothing is left behind."""
    progress(f"starting container {ws.name}")
    container_id = ctx.engine.create_container(spec=container_spec(ctx, ws, image=image))
    try:
        ctx.engine.start_container(ref=container_id)
        ensure_running(ctx, container_id, what=f"container {ws.name}")
    except BaseException:
        ctx.engine.remove_container(ref=container_id)
        raise
    return container_id


def ensure_running(ctx: Context, container_id: str, *, what: str) -> None:
    """Raise if the container died right after its start; else record its image's use."""
    info = ctx.engine.inspect_container(ref=container_id)
    if info.running:
        if info.image_id:
            ctx.store.images.record(info.image_id, at=ctx.now())
        return
    _raise_exited(ctx, container_id, info, what=what)


def _raise_exited(ctx: Context, container_id: str, info: ContainerInfo, *, what: str) -> None:
    """With an init process a bad command does not fail the start: init starts, cannot
    exec the command and exits (127) a moment later. The container's last log lines
    say why, so they become the error message."""
    tail = ctx.engine.logs(ref=container_id, tail=3).strip().splitlines()
    reason = tail[-1] if tail else info.error or f"exit code {info.exit_code}"
    raise EngineError(f"{what} exited right after it started (exit {info.exit_code}): {reason}")


def find_container(ctx: Context, ws: Workspace) -> ContainerInfo | None:
    """The workspace's container (by id, else by name), or None; ``Conflict`` if the name
    is taken by a container that is not ours."""
    for ref in filter(None, (ws.container_id, ws.name)):
        try:
            info = ctx.engine.inspect_container(ref=ref)
        except NotFound:
            continue
        if info.labels.get(LABEL_INSTALLATION) != ctx.installation or (
            info.labels.get(LABEL_WORKSPACE) != ws.key
        ):
            raise Conflict(
                f"container {info.name!r} has workspace {ws.key!r}'s name but is not ours; "
                "rename or remove it"
            )
        return info
    return None


def discard_container(ctx: Context, ws: Workspace) -> None:
    """Remove the workspace's container if there is one and it is ours."""
    info = find_container(ctx, ws)
    if info is not None:
        ctx.engine.remove_container(ref=info.id)


def save_cas(ctx: Context, ws: Workspace, *, expect: State) -> None:
    if not ctx.store.workspaces.save(ws, expect_state=expect):
        raise Conflict(f"workspace {ws.key!r} changed state concurrently; try again")
