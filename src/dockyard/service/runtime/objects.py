"""The engine objects a workspace owns (its container and volume), found and removed safely.

Nothing is removed unless its labels say it belongs to this installation and this
workspace: a name is not proof of ownership, a label is. A container (and volume) made
for the warm pool carries no workspace's label, only ``dockyard.role=pool``: whose it is
the store says (``core.pool``), and it belongs to the workspace whose record holds its id
(its volume: its name).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from dockyard.core.errors import Conflict, NotFound
from dockyard.core.model import Workspace
from dockyard.core.naming import LABEL_INSTALLATION, LABEL_ROLE, LABEL_WORKSPACE, ownership_labels
from dockyard.core.pool import LABEL_POOL, ROLE_POOL
from dockyard.engine.models import ContainerInfo, ContainerSummary, ImageInfo
from dockyard.service.runtime.context import Context


def require_image(ctx: Context, image: str) -> ImageInfo:
    try:
        return ctx.engine.inspect_image(ref=image)
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
        volume.labels.get(LABEL_WORKSPACE) != ws.key and LABEL_POOL not in volume.labels
    ):
        raise Conflict(f"volume {ws.volume!r} exists but does not belong to workspace {ws.key!r}")
    return True


def labels_for(ctx: Context, ws: Workspace, *, role: str) -> dict[str, str]:
    own = ownership_labels(
        installation=ctx.installation, key=ws.key, owner=ws.owner, keep=ws.keep, role=role
    )
    return {**ws.labels, **own}


def find_container(ctx: Context, ws: Workspace) -> ContainerInfo | None:
    """The workspace's container (by id, else by name), or None; ``Conflict`` if the name
    is taken by a container that is not ours."""
    for ref in filter(None, (ws.container_id, ws.name)):
        try:
            info = ctx.engine.inspect_container(ref=ref)
        except NotFound:
            continue
        if info.labels.get(LABEL_INSTALLATION) != ctx.installation or not _holds(ws, info):
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


def _holds(ws: Workspace, info: ContainerInfo) -> bool:
    if info.labels.get(LABEL_ROLE) == ROLE_POOL:
        return info.id == ws.container_id
    return info.labels.get(LABEL_WORKSPACE) == ws.key


@dataclass(frozen=True, slots=True)
class Holders:
    """Who holds the pool's containers of one listing: container id -> key of those
    handed out, and the ids still waiting in the pool."""

    keys: Mapping[str, str]
    pooled: frozenset[str]

    def key_of(self, container_id: str, labels: Mapping[str, str]) -> str | None:
        if labels.get(LABEL_ROLE) == ROLE_POOL:
            return self.keys.get(container_id)
        return labels.get(LABEL_WORKSPACE)


NO_HOLDERS = Holders({}, frozenset())


def holders(ctx: Context, listing: Iterable[ContainerSummary]) -> Holders:
    """The holders of the pool's containers among ``listing`` (read after it). The pool's
    rows are read before the records: a member taken in between is then seen as both
    (the record wins), never as neither, which would make it look like an orphan."""
    ids = [c.id for c in listing if c.labels.get(LABEL_ROLE) == ROLE_POOL]
    if not ids:
        return NO_HOLDERS
    waiting = {m.container_id for m in ctx.store.pool.list(engine=ctx.engine_name)}
    keys = ctx.store.workspaces.keys_of_containers(ids)
    return Holders(keys, frozenset(waiting - keys.keys()))


def holder_of(ctx: Context, container_id: str, labels: Mapping[str, str]) -> str | None:
    """The key of the workspace a container of this installation belongs to, or None."""
    if labels.get(LABEL_ROLE) != ROLE_POOL:
        return labels.get(LABEL_WORKSPACE)
    return ctx.store.workspaces.keys_of_containers([container_id]).get(container_id)


def in_pool(ctx: Context, container_id: str) -> bool:
    """Is the container a ready member of the pool (not handed out)?"""
    return any(m.container_id == container_id for m in ctx.store.pool.list(engine=ctx.engine_name))
