"""The warm pool's figure: a new key's acquire when a ready member waits, against the
create + start floor of a container of the same spec (measured interleaved)."""

from __future__ import annotations

import itertools
import shutil
import tempfile
from dataclasses import replace
from pathlib import Path

from bench import fleet
from bench.figures import Bench, ratio_figure
from bench.stats import Figure, p50, timed
from dockyard.engine.models import VolumeMount
from dockyard.service import AcquireRequest, Dockyard
from dockyard.service.workspaces import pool
from dockyard.service.workspaces.containers import container_spec
from dockyard.service.workspaces.networks import network_for


def open_pooled(data: Path, *, network: str | None) -> Dockyard:
    flags: dict[str, object] = {"pool.size": 1}
    if network is not None:
        flags["workspace.network"] = network
    return fleet.open_manager(data, **flags)


def pooled_acquire(bench: Bench, *, network: str | None) -> Figure:
    """``network`` None: owners' networks (a taken member joins its owner's: one engine
    call); else every workspace on that network (members wait on it already)."""
    data = Path(tempfile.mkdtemp(prefix="dockyard-bench-pool-"))
    dy = open_pooled(data, network=network)
    fleet.clean_up_on_exit(dy.ctx.installation)
    samples = 3 if bench.quick else 8
    counter = itertools.count()
    # the owner's network is made by the first workspace, not measured
    dy.acquire(AcquireRequest(key="bench-pool-first"))

    def one_run() -> tuple[float, float]:
        ours, floors = [], []
        for _ in range(samples):
            pool.refill(dy.ctx)  # the reconciler's work, in the background: not timed
            key = f"bench-pool-{next(counter)}"
            ours.append(timed(lambda: dy.acquire(AcquireRequest(key=key))))
            ws = dy.get(key)
            assert ws.volume.startswith("dy-pool-"), "the acquire did not take the member"
            dy.remove(key, purge=True, force=True)
            raw_volume = VolumeMount(volume=ws.volume + "-raw", target="/workspace")
            net = network or network_for(dy.ctx, ws.owner)
            spec = replace(
                container_spec(dy.ctx, ws, network=net),
                name=ws.name + "-raw",
                mounts=[raw_volume],
            )

            def raw() -> None:
                dy.ctx.engine.create_volume(name=raw_volume.volume, labels=dict(spec.labels))
                cid = dy.ctx.engine.create_container(spec=spec)
                dy.ctx.engine.start_container(ref=cid)

            floors.append(timed(raw))
            dy.ctx.engine.remove_container(ref=spec.name)
            dy.ctx.engine.remove_volume(name=raw_volume.volume)
        return p50(ours), p50(floors)

    where = "owners' networks" if network is None else f"workspace.network = {network}"
    try:
        return ratio_figure(
            f"new workspace from the warm pool ({where})",
            0.2,
            bench,
            one_run,
            note="floor: raw volume create + container create + start, same image and spec",
        )
    finally:
        fleet.sweep(dy.ctx.installation)
        dy.close()
        shutil.rmtree(data, ignore_errors=True)
