"""Many real containers, fast, with the records a no-op reconcile expects; always cleaned.

The containers run the workspace image's ``sleep infinity`` under an init process,
with no network endpoint (``NO_NETWORK``): they start in a few milliseconds and stop
at once. (Hundreds of containers with endpoints exiting at once, on the bridge or the
"none" network alike, deadlock Debian's dockerd 20.10.24: its libnetwork lacks the fix
for moby/moby#46661.) Each carries this run's installation labels, so cleanup is one
label-filtered sweep, done on exit, on Ctrl-C and on SIGTERM alike.
"""

from __future__ import annotations

import atexit
import signal
import sys
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from types import FrameType

from dockyard.core.errors import DockyardError
from dockyard.core.model import State, Workspace
from dockyard.core.naming import LABEL_INSTALLATION, workspace_names
from dockyard.engine.docker import DockerEngine, Timeouts
from dockyard.engine.models import NO_NETWORK
from dockyard.service import Dockyard
from dockyard.service.workspaces.containers import container_spec
from dockyard.service.workspaces.networks import network_for
from dockyard.settings import load_settings

WORKERS = 16


def open_manager(data: Path, **flags: object) -> Dockyard:
    """A manager under test: its own data directory, small fast containers, no background
    cleanup (``flags``: more settings, by key path)."""
    base: dict[str, object] = {
        "data_dir": data,
        "workspace.memory": "64m",
        "workspace.stop_timeout": "2s",
        "reconciler.background_interval": "0s",
        "reconciler.busy_sample": "100ms",
    }
    return Dockyard.open(load_settings(env={}, flags={**base, **flags}))


def sweep(installation: str, *, parallel: bool = True) -> int:
    """Remove everything labelled with ``installation``; returns how many objects.
    (At interpreter exit no new threads may start: ``parallel=False`` then.)"""
    # a thousand removals at once can keep a small machine's engine busy for minutes
    engine = DockerEngine(timeouts=Timeouts(remove_s=600, quick_s=600))
    labels = {LABEL_INSTALLATION: installation}
    removed = 0
    try:
        containers = engine.list_containers(labels=labels)
        if parallel:
            with ThreadPoolExecutor(WORKERS // 2) as pool:
                list(pool.map(lambda c: _remove(engine, c.id), containers))
        for container in engine.list_containers(labels=labels):  # what is left, one by one
            engine.remove_container(ref=container.id)
        removed += len(containers)
        for volume in engine.list_volumes(labels=labels):
            engine.remove_volume(name=volume.name)
            removed += 1
        for image in engine.list_images(labels=labels):
            for tag in image.tags:
                engine.remove_image(ref=tag)
            removed += 1
        for network in engine.list_networks(labels=labels):
            engine.remove_network(name=network.name)
            removed += 1
    finally:
        engine.close()
    return removed


def _remove(engine: DockerEngine, container_id: str) -> None:
    """Remove one container; a failure is left to the sequential pass after."""
    try:
        engine.remove_container(ref=container_id)
    except DockyardError as exc:
        print(f"[bench] removing {container_id[:12]} failed ({exc}); retrying later", flush=True)


def clean_up_on_exit(installation: str) -> None:
    """Sweep at exit, on Ctrl-C and on SIGTERM (a benchmark cut short leaves nothing)."""
    atexit.register(sweep, installation, parallel=False)

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        sweep(installation)
        sys.exit(128 + signum)

    signal.signal(signal.SIGTERM, on_signal)


def bring_up(
    dy: Dockyard,
    count: int,
    *,
    prefix: str,
    volumes: bool = False,
    start_index: int = 0,
    networked: bool = False,
) -> list[Workspace]:
    """``count`` running workspaces made directly (records + containers), in parallel;
    with no network endpoint unless ``networked`` (the settings' network, the bridge)."""
    ctx = dy.ctx
    now = ctx.now()

    def one(index: int) -> Workspace:
        key = f"{prefix}-{index:05d}"
        names = workspace_names(key, installation=ctx.installation, repo=None, branch=None)
        ws = Workspace(
            key=key,
            name=names.container,
            volume=names.volume,
            owner=f"owner-{index % 50}",
            image=ctx.settings.workspace.image,
            resources=ctx.settings.workspace.resources(memory=64 * 1024**2),
            state=State.CREATING,
            created_at=now,
            state_changed_at=now,
            last_activity_at=now,
        )
        ctx.store.workspaces.insert(ws)
        network = network_for(ctx, ws.owner) if networked else NO_NETWORK
        spec = container_spec(ctx, ws, network=network)
        if not volumes:
            spec = replace(spec, mounts=[])
        else:
            ctx.engine.create_volume(name=ws.volume, labels=dict(spec.labels))
        container_id = ctx.engine.create_container(spec=spec)
        ctx.engine.start_container(ref=container_id)
        running = replace(
            ws.transition(State.RUNNING, now=now), container_id=container_id, started_at=now
        )
        ctx.store.workspaces.save(running, expect_state=State.CREATING)
        return running

    with ThreadPoolExecutor(WORKERS) as pool:
        return list(pool.map(one, range(start_index, start_index + count)))


#: Records written per transaction by ``add_records``.
RECORD_BATCH = 5_000


def add_records(dy: Dockyard, count: int, *, prefix: str, state: State = State.PARKED) -> list[str]:
    """Records without containers (a store with history), inserted in batches; their keys."""
    ctx = dy.ctx
    now = ctx.now() - timedelta(days=1)
    added: list[str] = []
    batch: list[Workspace] = []
    for index in range(count):
        key = f"{prefix}-{index:06d}"
        names = workspace_names(key, installation=ctx.installation, repo=None, branch=None)
        batch.append(
            Workspace(
                key=key,
                name=names.container,
                volume=names.volume,
                owner=f"owner-{index % 50}",
                image=ctx.settings.workspace.image,
                resources=ctx.settings.workspace.resources(),
                state=state,
                created_at=now,
                state_changed_at=now,
                last_activity_at=now,
            )
        )
        added.append(key)
        if len(batch) == RECORD_BATCH:
            ctx.store.workspaces.insert_many(batch)
            batch = []
    ctx.store.workspaces.insert_many(batch)
    return added


def delete_records(dy: Dockyard, keys: Iterable[str]) -> None:
    for key in keys:
        dy.ctx.store.workspaces.delete(key)


def keys(workspaces: Iterable[Workspace]) -> list[str]:
    return [ws.key for ws in workspaces]
