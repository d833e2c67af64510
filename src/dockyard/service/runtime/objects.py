"""The engine objects a workspace owns (its container and volume), found and removed safely.

Nothing is removed unless its labels say it belongs to this installation and this
workspace: a name is not proof of ownership, a label is.
"""

from __future__ import annotations

from dockyard.core.errors import Conflict, NotFound
from dockyard.core.model import Workspace
from dockyard.core.naming import LABEL_INSTALLATION, LABEL_WORKSPACE, ownership_labels
from dockyard.engine.models import ContainerInfo
from dockyard.service.runtime.context import Context


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
