"""The warm pool, in pure terms: what a ready container is for, and what to make or drop.

A pool member is a container started ahead of any request (with its volume), waiting for
a new key. It is made for one *spec* (image, limits, whether the work lives on a
volume); a request whose workspace would have that spec can take it instead of paying
for a create and a start. Container labels cannot change after creation, so a member's
labels say only ``dockyard.role=pool`` and its spec; who it belongs to is a record in the
store: a pool row while it waits, the workspace's record (its ``container_id``) once it
is handed out. Taking a member deletes its row and writes the workspace's record in one
transaction, so a member is pooled or assigned, never both and never neither.
"""

from __future__ import annotations

import hashlib
import secrets
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from dockyard.core.model import Resources, Workspace
from dockyard.core.naming import NAME_PREFIX

LABEL_POOL = "dockyard.pool"
ROLE_POOL = "pool"
#: A member older than this is replaced by a fresh one (its image may have been
#: re-tagged since, and a container idle for days is not what a new key should get).
MAX_AGE = timedelta(days=1)


@dataclass(frozen=True, slots=True)
class PoolSpec:
    """What a member is made as: only a workspace that would be made the same way takes
    it (the same image, by name and by id: a re-tagged image is another spec; the same
    limits, storage, command, work directory and network setting)."""

    image: str
    image_id: str
    resources: Resources
    volume: bool
    command: tuple[str, ...]
    workdir: str
    network: str | None  # ``workspace.network``; None: owners' networks

    @property
    def id(self) -> str:
        """A short stable id of the spec (a label value and a column)."""
        text = "\0".join(
            [
                self.image,
                self.image_id,
                str(self.resources.memory_bytes),
                str(self.resources.nano_cpus),
                str(self.resources.pids),
                str(self.resources.disk_bytes),
                "volume" if self.volume else "layer",
                "\x1f".join(self.command),
                self.workdir,
                self.network if self.network is not None else "\x1e",
            ]
        )
        return hashlib.sha256(text.encode()).hexdigest()[:12]


@dataclass(frozen=True, slots=True)
class PoolMember:
    """A ready container of the pool, as its row records it."""

    name: str
    container_id: str
    volume: str | None
    spec_id: str
    image: str
    engine: str
    created_at: datetime


def can_take_member(ws: Workspace) -> bool:
    """Whether a new workspace like ``ws`` may take a member at all: not a kept one nor
    one with labels of its own (a member's labels were fixed before its key was known),
    nor one with a disk cap (a member's volume is a plain one)."""
    return not ws.keep and not ws.labels and ws.resources.disk_bytes is None


def member_names() -> tuple[str, str]:
    """A new member's container and volume names: random (no key is known yet)."""
    tag = secrets.token_hex(5)
    return f"{NAME_PREFIX}pool-{tag}", f"{NAME_PREFIX}pool-{tag}-work"


@dataclass(frozen=True, slots=True)
class Drop:
    """A member to remove, and why."""

    name: str
    reason: str


@dataclass(frozen=True, slots=True)
class PoolPlan:
    """What a refill does on one engine: members to drop, then specs to make."""

    drop: tuple[Drop, ...]
    make: tuple[PoolSpec, ...]


def plan_refill(
    *,
    now: datetime,
    wanted: Mapping[PoolSpec, int],
    members: Sequence[PoolMember],
    running: Mapping[str, bool],
) -> PoolPlan:
    """Drop the members that cannot be handed out (their container is gone or not
    running, their spec is no longer wanted, they are too old, or there are more than
    wanted), and make what is missing. ``running``: container id -> running, for the
    containers the engine listed (a member absent from it is gone)."""
    sizes = {spec.id: size for spec, size in wanted.items() if size > 0}
    drop: list[Drop] = []
    kept: Counter[str] = Counter()
    for member in sorted(members, key=lambda m: m.created_at, reverse=True):
        if member.container_id not in running:
            drop.append(Drop(member.name, "its container is gone"))
        elif not running[member.container_id]:
            drop.append(Drop(member.name, "its container is not running"))
        elif member.spec_id not in sizes:
            drop.append(Drop(member.name, "the pool no longer has its spec"))
        elif now - member.created_at > MAX_AGE:
            drop.append(Drop(member.name, f"older than {MAX_AGE}"))
        elif kept[member.spec_id] >= sizes[member.spec_id]:
            drop.append(Drop(member.name, "more than the pool's size"))
        else:
            kept[member.spec_id] += 1
    make = [spec for spec, size in wanted.items() if size > 0 for _ in range(size - kept[spec.id])]
    return PoolPlan(tuple(drop), tuple(make))
