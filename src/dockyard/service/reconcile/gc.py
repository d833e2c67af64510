"""``gc``: observe what dockyard owns, plan removals (``core.gc``), apply exactly that plan.

What dockyard owns is told by labels for containers and volumes (made with this
installation's id), and by its own record for images (``store.images.made``: the
checkpoints it committed), never by an image's labels, which images built from ours
inherit; ``gc.image_prefixes`` names more.

Applying re-checks every item just before removing it and skips, with the reason,
anything that changed since the plan: a container that started, an image a new
container uses, a volume that got mounted or whose workspace needs it again. Nothing
outside the plan is ever removed. A stopped container that still belongs to a workspace
is parked (its work saved first), not just deleted.
"""

from __future__ import annotations

import enum
import fnmatch
from collections import Counter
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import assert_never

from dockyard.core.actions import Reason
from dockyard.core.errors import (
    Conflict,
    DockyardError,
    EngineUnavailable,
    NotFound,
    Unavailable,
)
from dockyard.core.events import EventType
from dockyard.core.gc import (
    ContainerFacts,
    Facts,
    GcPlan,
    GcRequest,
    ImageFacts,
    Item,
    Kind,
    NetworkFacts,
    VolumeFacts,
    next_gc,
    plan_gc,
)
from dockyard.core.model import CONTAINERLESS_STATES
from dockyard.core.naming import (
    LABEL_INSTALLATION,
    LABEL_KEEP,
    LABEL_OWNER,
    LABEL_ROLE,
    LABEL_WORKSPACE,
    is_truthy_label,
)
from dockyard.core.pool import LABEL_POOL
from dockyard.engine.models import ContainerSummary, ImageInfo
from dockyard.service.observe import installation_labels, observed_container
from dockyard.service.runtime.context import Context, Progress, no_progress
from dockyard.service.runtime.disks import drop_volume
from dockyard.service.runtime.locking import SHORT_WAIT
from dockyard.service.runtime.objects import Holders, holder_of, holders, in_pool
from dockyard.service.workspaces.networks import owner_networks
from dockyard.service.workspaces.parking import park_locked


class GcOutcome(enum.StrEnum):
    """What became of one item of a gc plan."""

    REMOVED = "removed"
    PARKED = "parked"  # a stopped container that still belonged to a workspace: saved first
    SKIPPED = "skipped"  # it changed since the plan
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class ItemResult:
    item: Item
    outcome: GcOutcome
    detail: str = ""


def plan(ctx: Context, request: GcRequest, *, sizes: bool = True) -> GcPlan:
    """What gc would remove now (``sizes``: with each volume's size, a disk scan), on
    every engine that answers as the daemon on record; the others are left alone (in
    ``kept``, with why). If none answers: ``EngineUnavailable``."""
    names = ctx.engines.names
    items: list[Item] = []
    kept: list[tuple[str, str]] = []
    for name in names:
        on = ctx.on(name)
        try:
            on.verify_engine(max_age_s=0)
            facts = observe(on, request, sizes=sizes)
        except EngineUnavailable as exc:
            if len(names) == 1:
                raise
            kept.append((f"engine {name}", f"left alone: {exc}"))
            continue
        found = plan_gc(now=ctx.now(), request=request, facts=facts)
        items += [replace(item, engine=name) for item in found.items]
        kept += found.kept
        kept += [
            (m.name, "a ready container of the warm pool") for m in on.store.pool.list(engine=name)
        ]
    return GcPlan(tuple(items), tuple(kept))


def observe(ctx: Context, request: GcRequest, *, sizes: bool = True) -> Facts:
    """What ``ctx``'s engine holds of this installation's, then (read after it, so that
    whatever was made meanwhile has its record) the records that may own it: those of
    this engine and those of engines this manager does not know."""
    labels = installation_labels(ctx)
    everyone = ctx.engine.list_containers(labels={})
    ours = [c for c in everyone if c.labels.get(LABEL_INSTALLATION) == ctx.installation]
    held = holders(ctx, ours)
    containers = [_container_facts(ctx, c, held) for c in ours if c.id not in held.pooled]
    images: list[ImageFacts] = []
    if request.images:
        users = Counter(c.image_id for c in everyone)
        used = ctx.store.images.all()
        every_image = ctx.engine.list_images(labels={})
        children = Counter(image.parent_id for image in every_image if image.parent_id)
        made = ctx.store.images.made_ids()
        images = [
            ImageFacts(
                id=image.id,
                tags=tuple(image.tags),
                size=image.size,
                created_at=image.created_at,
                last_used=used.get(image.id),
                in_use_by=users[image.id],
                children=children[image.id],
            )
            for image in every_image
            if image.id in made or _named_for_gc(ctx, image)
        ]
    volumes: list[VolumeFacts] = []
    if request.volumes:
        mounts = Counter(v for c in everyone for v in c.volumes)
        volume_sizes = ctx.engine.volume_sizes() if sizes else {}
        listed = ctx.engine.list_volumes(labels={**labels, LABEL_ROLE: "volume"})
        waiting = {m.volume for m in ctx.store.pool.list(engine=ctx.engine_name)}
        taken = ctx.store.workspaces.keys_of_volumes(
            [v.name for v in listed if LABEL_POOL in v.labels]
        )
        volumes = [
            VolumeFacts(
                name=v.name,
                key=v.labels.get(LABEL_WORKSPACE) or taken.get(v.name),
                created_at=v.created_at,
                size=volume_sizes.get(v.name),
                mounted_by=mounts[v.name],
                keep=is_truthy_label(v.labels.get(LABEL_KEEP)),
            )
            for v in listed
            if v.name not in waiting
        ]
    attached = Counter(n for c in everyone for n in c.networks)
    networks = [
        NetworkFacts(
            name=n.name,
            owner=n.labels.get(LABEL_OWNER),
            created_at=n.created_at,
            attached=attached[n.name] + attached[n.id],
        )
        for n in owner_networks(ctx)
    ]
    return Facts(
        containers=containers,
        images=images,
        volumes=volumes,
        networks=networks,
        workspaces=[
            ws
            for ws in ctx.store.workspaces.list()
            if ws.engine == ctx.engine_name or ws.engine not in ctx.engines.engines
        ],
        checkpoints=ctx.store.checkpoints.list(),
        default_image=ctx.settings.workspace.image,
    )


def _container_facts(ctx: Context, summary: ContainerSummary, held: Holders) -> ContainerFacts:
    observed = observed_container(ctx.engine, summary, holders=held)
    return ContainerFacts(
        id=summary.id,
        name=summary.name,
        key=observed.key,
        running=observed.running,
        keep=observed.keep,
        created_at=observed.created_at,
        finished_at=observed.finished_at,
    )


def _named_for_gc(ctx: Context, image: ImageInfo) -> bool:
    """An image whose name the settings give to gc (``gc.image_prefixes``)."""
    prefixes = ctx.settings.gc.image_prefixes
    return any(fnmatch.fnmatchcase(tag, f"{p}*") for tag in image.tags for p in prefixes)


# -- applying -------------------------------------------------------------------------------


class Skip(Exception):
    """The item changed since the plan."""


def apply(ctx: Context, the_plan: GcPlan, *, progress: Progress = no_progress) -> list[ItemResult]:
    """Remove exactly the plan's items, each after a re-check; never raises for one item."""
    results = []
    for item in the_plan.items:
        progress(f"{item.kind} {item.name}")
        try:
            outcome = apply_item(ctx, item)
        except Skip as skip:
            results.append(ItemResult(item, GcOutcome.SKIPPED, str(skip)))
            continue
        except Unavailable:
            raise
        except DockyardError as exc:
            results.append(ItemResult(item, GcOutcome.FAILED, exc.message))
            continue
        results.append(ItemResult(item, outcome))
    return results


def apply_item(ctx: Context, item: Item) -> GcOutcome:
    """Remove one item (on its engine) after re-checking it (``Skip`` if it changed),
    and say so."""
    ctx = ctx.on(item.engine)
    match item.kind:
        case Kind.CONTAINER:
            outcome = _apply_container(ctx, item)
        case Kind.IMAGE:
            outcome = _apply_image(ctx, item)
        case Kind.VOLUME:
            outcome = _apply_volume(ctx, item)
        case Kind.NETWORK:
            outcome = _apply_network(ctx, item)
        case _:
            assert_never(item.kind)
    ctx.publish(
        EventType.GC_REMOVED,
        key=item.key,
        kind=item.kind.value,
        name=item.name,
        size=item.size,
        reason=item.reason,
        outcome=outcome.value,
    )
    return outcome


def _apply_container(ctx: Context, item: Item) -> GcOutcome:
    try:
        info = ctx.engine.inspect_container(ref=item.ref)
    except NotFound:
        raise Skip("already gone") from None
    if info.labels.get(LABEL_INSTALLATION) != ctx.installation:
        raise Skip("not this installation's")
    if info.running:
        raise Skip("it started since the plan")
    if is_truthy_label(info.labels.get(LABEL_KEEP)):
        raise Skip("kept")
    if in_pool(ctx, info.id):
        raise Skip("a ready container of the pool")
    key = holder_of(ctx, info.id, info.labels)
    if not key:
        ctx.engine.remove_container(ref=info.id)
        return GcOutcome.REMOVED
    with ctx.lock(key, wait=SHORT_WAIT):
        ws = ctx.store.workspaces.get(key)
        if ws is not None and ws.engine not in ctx.engines.engines:
            raise Skip(f"workspace {key!r} is on engine {ws.engine!r}, unknown here")
        elsewhere = ws is not None and ws.engine != ctx.engine_name
        theirs = ws is not None and (info.name == ws.name or info.id == ws.container_id)
        if ws is None or ws.state in CONTAINERLESS_STATES or not theirs or elsewhere:
            ctx.ensure_locked(key)
            ctx.engine.remove_container(ref=info.id)
            return GcOutcome.REMOVED
        if ws.keep:
            raise Skip(f"workspace {key!r} is kept")
        park_locked(ctx, ws, reason=Reason.GC, detail=f"gc: {item.reason}")
        return GcOutcome.PARKED


def _apply_image(ctx: Context, item: Item) -> GcOutcome:
    users = [c.name for c in ctx.engine.list_containers(labels={}) if c.image_id == item.ref]
    if users:
        raise Skip(f"used by container {users[0]} since the plan")
    if any(image.parent_id == item.ref for image in ctx.engine.list_images(labels={})):
        raise Skip("an image was committed from it since the plan")  # not even untagged
    try:
        image = ctx.engine.inspect_image(ref=item.ref)
    except NotFound:
        raise Skip("already gone") from None
    for tag in image.tags:  # untag each name; the last one removes the image
        ctx.engine.remove_image(ref=tag)
    ctx.engine.remove_image(ref=image.id)
    ctx.store.images.forget(image.id)
    return GcOutcome.REMOVED


def _apply_volume(ctx: Context, item: Item) -> GcOutcome:
    mounted = [c.name for c in ctx.engine.list_containers(labels={}) if item.ref in c.volumes]
    if mounted:
        raise Skip(f"mounted by container {mounted[0]} since the plan")
    if not item.key:
        drop_volume(ctx, item.ref)
        return GcOutcome.REMOVED
    with ctx.lock(item.key, wait=SHORT_WAIT):
        ws = ctx.store.workspaces.get(item.key)  # checked again right before the removal
        now = ctx.now()
        if ws is not None and ws.state not in CONTAINERLESS_STATES:
            raise Skip(f"workspace {item.key!r} is {ws.state} now")
        live = [
            c
            for c in ctx.store.checkpoints.list(workspace_key=item.key)
            if c.verified and now < c.expires_at
        ]
        if ws is not None and live:
            raise Skip(f"workspace {item.key!r} has a checkpoint now")
        ctx.ensure_locked(item.key)
        drop_volume(ctx, item.ref)
    return GcOutcome.REMOVED


def _apply_network(ctx: Context, item: Item) -> GcOutcome:
    attached = [c.name for c in ctx.engine.list_containers(labels={}) if item.ref in c.networks]
    if attached:
        raise Skip(f"container {attached[0]} is attached to it since the plan")
    try:
        ctx.engine.remove_network(name=item.ref)
    except Conflict:
        raise Skip("a container was attached to it since the plan") from None
    return GcOutcome.REMOVED


LAST_GC = "last_scheduled_gc_at"


def settings_request(ctx: Context) -> GcRequest:
    gc = ctx.settings.gc
    return GcRequest(age=gc.age, images=gc.images, volumes=gc.volumes, keep_storage=gc.keep_storage)


def next_run(ctx: Context) -> datetime | None:
    """When the scheduled gc (``gc.interval``) runs next: now if due, None if it is off."""
    interval = ctx.settings.gc.interval
    if interval <= timedelta(0):
        return None  # off (the default): not even a store read per pass
    last = ctx.store.meta.get(LAST_GC)
    return next_gc(
        now=ctx.now(), interval=interval, last=datetime.fromisoformat(last) if last else None
    )


def due_plan(ctx: Context, *, claim: bool) -> GcPlan | None:
    """The scheduled gc's plan if it is due now, else None. ``claim``: this process runs
    it (the next run is due an interval later, whatever happens to this one); of two
    processes claiming one run, one wins and the other plans nothing."""
    interval = ctx.settings.gc.interval
    if interval <= timedelta(0):
        return None
    last = ctx.store.meta.get(LAST_GC)
    at = next_gc(
        now=ctx.now(), interval=interval, last=datetime.fromisoformat(last) if last else None
    )
    if at is None or at > ctx.now():
        return None
    if claim and not ctx.store.meta.replace(LAST_GC, expected=last, value=ctx.now().isoformat()):
        return None  # another process claimed this run
    return plan(ctx, settings_request(ctx))
