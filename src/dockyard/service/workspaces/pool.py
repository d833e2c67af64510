"""The warm pool: containers started ahead of requests, taken by new keys.

A member is made as a workspace would be (the same command, limits, init and work
volume), but before any key is known: its labels say ``dockyard.role=pool`` and its spec,
its name and volume are random, and it waits with no network at all (made on ``none``
and taken off it once started), unless ``workspace.network`` puts every workspace on one
network. Its row in the store says it waits (``store.pool``).

A new key's creation takes one whose spec matches (``take``): one transaction deletes the
member's row and writes the workspace's ``creating`` record holding the member's
container id and volume, so the member is pooled or assigned, never both, never neither.
Then the container joins its owner's network and gets the workspace's deterministic name;
the repository is copied in as for any new workspace. A failure or a crash after the
take undoes it as any creation is undone: the record's container and volume go.

The reconciler refills the pool (``refill``): it drops the members that can no longer be
handed out and makes the missing ones, each made whole before its row is written (one
cut off before its row has no record, and the orphan rules remove it).
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import replace
from datetime import timedelta
from typing import Any

from dockyard.core.errors import Busy, DockyardError, NotFound
from dockyard.core.model import Resources, Workspace
from dockyard.core.naming import LABEL_INSTALLATION, LABEL_MANAGED, LABEL_ROLE
from dockyard.core.pool import (
    LABEL_POOL,
    ROLE_POOL,
    PoolMember,
    PoolPlan,
    PoolSpec,
    can_take_member,
    member_names,
    plan_refill,
)
from dockyard.engine.models import NO_NETWORK
from dockyard.service.runtime.context import Context, Progress
from dockyard.service.snapshots.strategy import strategy_for, uses_volume
from dockyard.service.workspaces.containers import (
    NETWORK_ATTEMPTS,
    ensure_running,
    workspace_spec,
)
from dockyard.service.workspaces.networks import network_for, network_missing

log = logging.getLogger(__name__)

#: Progress announced right after a member is taken (its row gone, the record written),
#: and once it is the workspace's container (on its network, under its name).
STEP_TAKEN = "taking the ready container"
STEP_ADOPTED = "took the ready container"


def spec_of(ctx: Context, ws: Workspace, *, image_id: str) -> PoolSpec:
    """The spec a member must have for ``ws`` (its image being ``image_id``) to take it."""
    return _spec(
        ctx, image=ws.image, image_id=image_id, resources=ws.resources, volume=uses_volume(ws)
    )


def _spec(
    ctx: Context, *, image: str, image_id: str, resources: Resources, volume: bool
) -> PoolSpec:
    settings = ctx.settings.workspace
    return PoolSpec(
        image=image,
        image_id=image_id,
        resources=resources,
        volume=volume,
        command=tuple(settings.command),
        workdir=settings.workdir,
        network=settings.network,
    )


def wanted(ctx: Context) -> dict[PoolSpec, int]:
    """The members the settings ask for on ``ctx``'s engine, by spec (an image the
    engine does not have is left out, and said)."""
    settings = ctx.settings.workspace
    if settings.disk is not None:
        return {}  # members have plain volumes: a capped one is made per workspace
    volume = strategy_for(settings.strategy).uses_volume
    specs: dict[PoolSpec, int] = {}
    for image, size in ctx.settings.pool.sizes(settings.image).items():
        try:
            image_id = ctx.engine.inspect_image(ref=image).id
        except NotFound:
            log.warning("pool: no image %s on engine %s: none made", image, ctx.engine_name)
            continue
        spec = _spec(
            ctx, image=image, image_id=image_id, resources=settings.resources(), volume=volume
        )
        specs[spec] = size
    return specs


def take(
    ctx: Context, ws: Workspace, *, image_id: str, reuse: bool
) -> tuple[Workspace, PoolMember] | None:
    """Write ``ws``'s ``creating`` record on a ready member of its spec, taking the member
    out of the pool in the same transaction; None if none is ready (nothing written).
    A member whose container is no longer running is dropped, not taken. ``reuse``: the
    key's removed (or expired) record is overwritten. Only where ``can_take_member``."""
    if not can_take_member(ws) or not ctx.settings.pool.sizes(ctx.settings.workspace.image):
        return None
    spec = spec_of(ctx, ws, image_id=image_id)
    for member in ctx.store.pool.list(engine=ctx.engine_name, spec_id=spec.id):
        if not _alive(ctx, member):
            if ctx.store.pool.remove(member.name):
                log.info("pool: dropping %s (its container is not running)", member.name)
                discard(ctx, member)
            continue
        held = replace(ws, container_id=member.container_id, volume=member.volume or ws.volume)
        if ctx.store.workspaces.insert_from_pool(held, member=member.name, reuse=reuse):
            return held, member
    return None


def _alive(ctx: Context, member: PoolMember) -> bool:
    try:
        return ctx.engine.inspect_container(ref=member.container_id).running
    except NotFound:
        return False


def adopt(ctx: Context, ws: Workspace, member: PoolMember, progress: Progress) -> str:
    """Make the taken member ``ws``'s container: on its owner's network, under its name.
    Returns the container's id."""
    progress(f"{STEP_TAKEN} {member.name}")
    if ctx.settings.workspace.network is None:
        _join_owners_network(ctx, ws.owner, member.container_id)
    ctx.engine.rename_container(ref=member.container_id, name=ws.name)
    progress(f"{STEP_ADOPTED} {member.name} as {ws.name}")
    return member.container_id


def _join_owners_network(ctx: Context, owner: str, container_id: str) -> None:
    """Connect the container to its owner's network, made again if it went (gc, a full
    subnet pool's reclaim) between looking it up and connecting."""
    for _attempt in range(NETWORK_ATTEMPTS - 1):
        network = network_for(ctx, owner)
        try:
            ctx.engine.connect_network(name=network, container=container_id)
        except NotFound:
            if not network_missing(ctx, network):
                raise
        else:
            return
    ctx.engine.connect_network(name=network_for(ctx, owner), container=container_id)


def summary(ctx: Context) -> dict[str, Any]:
    """The pool as the store knows it: how many members of each image are wanted (over
    every engine) and the ready ones (no engine is asked)."""
    ready = ctx.store.pool.list()
    now = ctx.now()
    engines = len(ctx.engines.names)
    sizes = ctx.settings.pool.sizes(ctx.settings.workspace.image)
    return {
        "wanted": {image: size * engines for image, size in sizes.items()},
        "ready": [
            {
                "name": m.name,
                "image": m.image,
                "engine": m.engine,
                "age_s": round((now - m.created_at).total_seconds(), 1),
            }
            for m in ready
        ],
        "ready_by_image": dict(Counter(m.image for m in ready)),
    }


# -- refilling -------------------------------------------------------------------------------


def refill_fleet(ctx: Context) -> None:
    """Refill the pool of every engine this manager knows, each by one replica at a
    time (another refilling an engine's pool now: this one leaves it). Never raises for
    an engine: what fails is logged and tried again at the next refill. With no pool
    configured and no member left, it costs one store read (no lease is taken)."""
    if not ctx.settings.pool.sizes(ctx.settings.workspace.image) and not ctx.store.pool.list():
        return
    for name in ctx.engines.names:
        on = ctx.on(name)
        try:
            with on.pool_lock(wait=timedelta(0)):
                refill(on)
        except Busy:
            continue
        except DockyardError as exc:
            log.warning("pool of engine %s not refilled: %s", name, exc)
        except Exception:  # a bug: said, and the next refill tries again
            log.exception("pool of engine %s not refilled", name)


def refill(ctx: Context) -> PoolPlan | None:
    """Drop the members of ``ctx``'s engine that cannot be handed out, make the missing
    ones; the plan it carried out (None: no pool wanted, nothing there). A member that
    cannot be made is logged and left for the next pass. A draining engine's pool is
    emptied (no new workspace goes there)."""
    record = ctx.store.engines.get(ctx.engine_name)
    want = {} if record is not None and record.draining else wanted(ctx)
    members = ctx.store.pool.list(engine=ctx.engine_name)
    if not want and not members:
        return None
    listing = ctx.engine.list_containers(
        labels={LABEL_INSTALLATION: ctx.installation, LABEL_ROLE: ROLE_POOL}
    )
    the_plan = plan_refill(
        now=ctx.now(),
        wanted=want,
        members=members,
        running={c.id: c.running for c in listing},
    )
    by_name = {m.name: m for m in members}
    for drop in the_plan.drop:
        member = by_name[drop.name]
        if ctx.store.pool.remove(member.name):  # taken meanwhile: not ours to drop any more
            log.info("pool: dropping %s (%s)", member.name, drop.reason)
            discard(ctx, member)
    for spec in the_plan.make:
        try:
            fill(ctx, spec)
        except DockyardError as exc:
            log.warning("pool: could not make a ready container of %s: %s", spec.image, exc)
            break  # the next pass tries again
    return the_plan


def fill(ctx: Context, spec: PoolSpec) -> PoolMember:
    """Make one member of ``spec``: its volume, its container started; then its row."""
    name, volume = member_names()
    labels = {
        LABEL_MANAGED: "true",
        LABEL_INSTALLATION: ctx.installation,
        LABEL_POOL: spec.id,
    }
    configured = ctx.settings.workspace.network
    made_volume = False
    try:
        if spec.volume:
            ctx.engine.create_volume(name=volume, labels={**labels, LABEL_ROLE: "volume"})
            made_volume = True
        container = workspace_spec(
            ctx,
            name=name,
            image=spec.image,
            labels={**labels, LABEL_ROLE: ROLE_POOL},
            volume=volume if spec.volume else None,
            resources=spec.resources,
            env={},
            network=configured or NO_NETWORK,
        )
        container_id = ctx.engine.create_container(
            spec=replace(container, attachable=configured is None)
        )
        try:
            ctx.engine.start_container(ref=container_id)
            ensure_running(ctx, container_id, what=f"pool container {name}")
            if configured is None:  # no network until its owner's, at the take
                ctx.engine.disconnect_network(name=NO_NETWORK, container=container_id)
            member = PoolMember(
                name=name,
                container_id=container_id,
                volume=volume if spec.volume else None,
                spec_id=spec.id,
                image=spec.image,
                engine=ctx.engine_name,
                created_at=ctx.now(),
            )
            ctx.store.pool.add(member)
        except BaseException:
            ctx.engine.remove_container(ref=container_id)
            raise
    except BaseException:
        if made_volume:
            ctx.engine.remove_volume(name=volume)
        raise
    log.info("pool: %s ready (%s)", name, spec.image)
    return member


def discard(ctx: Context, member: PoolMember) -> None:
    """Remove a member's container and volume (its row is already gone)."""
    ctx.engine.remove_container(ref=member.container_id)
    if member.volume:
        ctx.engine.remove_volume(name=member.volume)
