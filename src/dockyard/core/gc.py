"""Garbage collection as a plan: which of dockyard's containers, images and volumes go.

Pure, like the planner: the service observes the engine and the store, this decides,
and the same plan is shown (``gc --dry-run``), confirmed and applied item by item, each
re-checked just before its removal. Age is measured from last use, not creation:

- containers: when they stopped (``FinishedAt``), or were created if never started;
- images: when dockyard last created or started a container from them, else built;
- volumes: when their workspace stopped needing them (parked, removed), else created;
- owners' networks: when a workspace of their owner last changed state, else created.

Protected, always: running containers, anything kept, images any container uses (ours
or not, running or not), images other images are built on (the engine refuses those;
they go once their children have), images a live checkpoint or workspace needs, volumes any
container mounts, volumes of workspaces that still need them, networks any container
(running or stopped: it could not start again) is attached to. Other installations'
objects are never even observed.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from dockyard.core.fleet import DEFAULT_ENGINE
from dockyard.core.model import Checkpoint, CheckpointKind, State, Workspace

_NEVER = datetime.min.replace(tzinfo=UTC)
#: Workspace states whose volume holds work that is still wanted.
_VOLUME_NEEDED = frozenset(State) - {State.REMOVED, State.EXPIRED, State.PARKED}


class Kind(enum.StrEnum):
    CONTAINER = "container"
    IMAGE = "image"
    VOLUME = "volume"
    NETWORK = "network"


@dataclass(frozen=True, slots=True)
class ContainerFacts:
    id: str
    name: str
    key: str | None
    running: bool
    keep: bool
    created_at: datetime | None
    finished_at: datetime | None


@dataclass(frozen=True, slots=True)
class ImageFacts:
    id: str
    tags: tuple[str, ...]
    size: int
    created_at: datetime | None
    last_used: datetime | None
    in_use_by: int  # containers (any) created from it
    children: int = 0  # images (any) committed from or built on it


@dataclass(frozen=True, slots=True)
class VolumeFacts:
    name: str
    key: str | None
    created_at: datetime | None
    size: int | None
    mounted_by: int  # containers (any) mounting it
    keep: bool


@dataclass(frozen=True, slots=True)
class NetworkFacts:
    name: str
    owner: str | None
    created_at: datetime | None
    attached: int  # containers (any, running or not) attached to it


@dataclass(frozen=True, slots=True)
class Item:
    """One thing the plan removes, and why."""

    kind: Kind
    ref: str  # id or name to remove
    name: str  # for people
    size: int | None
    since: datetime | None  # last use: what its age is measured from
    reason: str
    key: str | None = None  # the workspace it belongs to, if any
    created_at: datetime | None = None
    engine: str = DEFAULT_ENGINE  # where it is


@dataclass(frozen=True, slots=True)
class GcPlan:
    items: tuple[Item, ...]
    kept: tuple[tuple[str, str], ...] = field(default=())  # (name, why) of notable skips

    @property
    def total_size(self) -> int:
        return sum(item.size or 0 for item in self.items)


@dataclass(frozen=True, slots=True)
class GcRequest:
    age: timedelta
    images: bool = False
    volumes: bool = False
    keep_storage: int | None = None  # images: remove LRU until their total is at most this


@dataclass(frozen=True, slots=True)
class Facts:
    """One observation of the engine (this installation's objects) and the store."""

    containers: Sequence[ContainerFacts]
    images: Sequence[ImageFacts]
    volumes: Sequence[VolumeFacts]
    workspaces: Sequence[Workspace]
    checkpoints: Sequence[Checkpoint]
    default_image: str
    networks: Sequence[NetworkFacts] = ()


def next_gc(*, now: datetime, interval: timedelta, last: datetime | None) -> datetime | None:
    """When the scheduled gc runs next (``now`` if it is due), None if it is off."""
    if interval <= timedelta(0):
        return None
    return now if last is None else max(now, last + interval)


def plan_gc(*, now: datetime, request: GcRequest, facts: Facts) -> GcPlan:
    kept: list[tuple[str, str]] = []
    kept_keys = {ws.key for ws in facts.workspaces if ws.keep}  # `dockyard keep`
    items = _containers(now, request.age, facts.containers, kept, kept_keys)
    if request.images:
        items += _images(now, request, facts, kept)
    if request.volumes:
        items += _volumes(now, request.age, facts, kept)
    items += _networks(now, request.age, facts)
    return GcPlan(tuple(items), tuple(kept))


def _containers(
    now: datetime,
    age: timedelta,
    containers: Sequence[ContainerFacts],
    kept: list[tuple[str, str]],
    kept_keys: set[str],
) -> list[Item]:
    items = []
    for c in containers:
        if c.running:
            continue
        if c.keep or (c.key is not None and c.key in kept_keys):
            kept.append((c.name, "kept"))
            continue
        since = c.finished_at or c.created_at
        if since is None or now - since < age:
            continue
        what = "stopped" if c.finished_at else "never started"
        items.append(Item(Kind.CONTAINER, c.id, c.name, None, since, what, c.key, c.created_at))
    return items


def _images(
    now: datetime, request: GcRequest, facts: Facts, kept: list[tuple[str, str]]
) -> list[Item]:
    images = facts.images
    needed_refs = {facts.default_image} | {
        ws.image for ws in facts.workspaces if ws.state not in (State.REMOVED, State.EXPIRED)
    }
    needed_refs |= {
        ref
        for c in facts.checkpoints
        if c.kind is CheckpointKind.IMAGE and now < c.expires_at
        for ref in (c.ref, c.location)
        if ref
    }
    candidates: list[ImageFacts] = []
    for image in images:
        if image.in_use_by:
            continue
        if needed_refs & {image.id, *image.tags}:
            kept.append((_image_name(image), "needed by a workspace or a checkpoint"))
            continue
        if image.children:  # the engine refuses to remove it until they are gone
            kept.append((_image_name(image), _built_on(image.children)))
            continue
        candidates.append(image)
    candidates.sort(key=lambda i: (_last_use(i) or _NEVER, i.id))  # least recently used first
    if request.keep_storage is not None:
        total = sum(i.size for i in images)
        chosen = []
        for image in candidates:
            if total <= request.keep_storage:
                break
            chosen.append((image, "over the storage budget, least recently used"))
            total -= image.size
    else:
        chosen = [
            (image, "unused")
            for image in candidates
            if now - (_last_use(image) or _NEVER) >= request.age
        ]
    return [
        Item(
            Kind.IMAGE,
            image.id,
            _image_name(image),
            image.size,
            _last_use(image),
            why,
            created_at=image.created_at,
        )
        for image, why in chosen
    ]


def _volumes(
    now: datetime, age: timedelta, facts: Facts, kept: list[tuple[str, str]]
) -> list[Item]:
    records = {ws.key: ws for ws in facts.workspaces}
    live_checkpoints = {
        c.workspace_key for c in facts.checkpoints if c.verified and now < c.expires_at
    }
    items = []
    for volume in facts.volumes:
        if volume.mounted_by:
            continue
        ws = records.get(volume.key or "")
        if volume.keep or (ws is not None and ws.keep):
            kept.append((volume.name, "kept"))
            continue
        since = volume.created_at
        if ws is None:
            reason = "its workspace no longer exists"
        elif ws.state in _VOLUME_NEEDED:
            continue
        elif ws.key in live_checkpoints:
            kept.append((volume.name, f"workspace {ws.key!r} has checkpoints"))
            continue
        else:
            reason = f"its workspace is {ws.state} and has no live checkpoint"
            since = max(filter(None, (since, ws.state_changed_at)))
        if since is None or now - since < age:
            continue
        items.append(
            Item(
                Kind.VOLUME,
                volume.name,
                volume.name,
                volume.size,
                since,
                reason,
                volume.key,
                volume.created_at,
            )
        )
    return items


def _networks(now: datetime, age: timedelta, facts: Facts) -> list[Item]:
    """Owners' networks no container is attached to: made again on the next need."""
    changed: dict[str, datetime] = {}
    for ws in facts.workspaces:
        changed[ws.owner] = max(changed.get(ws.owner, ws.state_changed_at), ws.state_changed_at)
    items = []
    for network in facts.networks:
        if network.attached:
            continue
        since = max(
            filter(None, (network.created_at, changed.get(network.owner or ""))), default=None
        )
        if since is None or now - since < age:
            continue
        items.append(
            Item(
                Kind.NETWORK,
                network.name,
                network.name,
                None,
                since,
                "no container is attached to it",
                created_at=network.created_at,
            )
        )
    return items


def _built_on(children: int) -> str:
    return f"{children} other image{'s are' if children != 1 else ' is'} built on it"


def _last_use(image: ImageFacts) -> datetime | None:
    return image.last_used or image.created_at


def _image_name(image: ImageFacts) -> str:
    return image.tags[0] if image.tags else image.id.removeprefix("sha256:")[:12]
