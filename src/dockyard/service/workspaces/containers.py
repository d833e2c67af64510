"""A workspace's container: its spec, created + started as one step, and stopped.

A container is created and started as one step that leaves nothing behind when the start
fails (the engine keeps failed starts in ``created``). A container that exits right
after its start is an error naming the container's own last words (its log).
"""

from __future__ import annotations

from collections.abc import Mapping

from dockyard.core.errors import EngineError, NotFound
from dockyard.core.model import Resources, Workspace
from dockyard.engine.models import ContainerInfo, ContainerSpec, VolumeMount
from dockyard.service.runtime.context import Context, Progress
from dockyard.service.runtime.disks import prepare_volume
from dockyard.service.runtime.objects import labels_for
from dockyard.service.snapshots.strategy import uses_volume
from dockyard.service.workspaces.networks import network_for, network_missing

#: Tries at a container whose owner's network is removed under it, each time.
NETWORK_ATTEMPTS = 3


def container_spec(
    ctx: Context, ws: Workspace, *, network: str, image: str | None = None
) -> ContainerSpec:
    return workspace_spec(
        ctx,
        name=ws.name,
        image=image or ws.image,
        labels=labels_for(ctx, ws, role="workspace"),
        volume=ws.volume if uses_volume(ws) else None,
        resources=ws.resources,
        env={"DOCKYARD_WORKSPACE": ws.key},
        network=network,
    )


def workspace_spec(
    ctx: Context,
    *,
    name: str,
    image: str,
    labels: Mapping[str, str],
    volume: str | None,
    resources: Resources,
    env: Mapping[str, str],
    network: str,
) -> ContainerSpec:
    """What every workspace container is: the settings' command under an init process,
    the work at ``workspace.workdir`` (on ``volume``, if given), the limits."""
    settings = ctx.settings.workspace
    return ContainerSpec(
        name=name,
        image=image,
        command=settings.command,
        labels=dict(labels),
        mounts=[VolumeMount(volume=volume, target=settings.workdir)] if volume else [],
        env=dict(env),
        workdir=settings.workdir,
        memory_bytes=resources.memory_bytes,
        nano_cpus=resources.nano_cpus,
        pids_limit=resources.pids,
        init=True,
        hostname=name[:63],
        network=network,
    )


def start_new_container(
    ctx: Context, ws: Workspace, progress: Progress, *, image: str | None = None
) -> str:
    """Create and start the workspace's container; on failure nothing is left behind."""
    progress(f"starting container {ws.name}")
    for _attempt in range(NETWORK_ATTEMPTS - 1):
        network = network_for(ctx, ws.owner)
        try:
            return _create_and_start(ctx, ws, image, network)
        except NotFound:
            # Its network went (gc, a full pool's reclaim in another process) between
            # looking and starting; the engine says so at the start. Made again.
            if not network_missing(ctx, network):
                raise
    return _create_and_start(ctx, ws, image, network_for(ctx, ws.owner))


def _create_and_start(ctx: Context, ws: Workspace, image: str | None, network: str) -> str:
    spec = container_spec(ctx, ws, network=network, image=image)
    if uses_volume(ws):
        prepare_volume(ctx, ws)
    container_id = ctx.engine.create_container(spec=spec)
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


def stop_container(ctx: Context, ws: Workspace) -> None:
    timeout = ctx.settings.workspace.stop_timeout.total_seconds()
    for ref in filter(None, (ws.container_id, ws.name)):
        try:
            ctx.engine.stop_container(ref=ref, timeout_s=timeout)
        except NotFound:
            continue
        return
