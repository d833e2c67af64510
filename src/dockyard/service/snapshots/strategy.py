"""How a workspace's work is saved before its container goes, and brought back after.

One ``Strategy`` per ``SaveStrategy`` (``volume.py``, ``git.py``, ``image.py``) answers
every question that depends on it: whether the work lives on a volume, how to save it
from a container, how to put a checkpoint back into a new container, and which image
that container runs. Nothing outside this package branches on the strategy.

The save around a strategy is the same for all: leftovers of an interrupted save are
dropped first; a container that is gone is salvaged (a save that already completed, or
the kept volume); otherwise the strategy saves. Every checkpoint record is written
unverified before the save acts and verified once the copy is durable and checked.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from dockyard.core.errors import SaveFailed
from dockyard.core.model import Checkpoint, CheckpointKind, SaveStrategy, Workspace
from dockyard.engine.models import ContainerInfo
from dockyard.service.runtime.context import Context, Progress
from dockyard.service.runtime.objects import volume_exists
from dockyard.service.snapshots import checkpoints
from dockyard.service.snapshots.git import GitStrategy
from dockyard.service.snapshots.image import ImageStrategy
from dockyard.service.snapshots.volume import VolumeStrategy


class Strategy(Protocol):
    """A way of saving work. ``save`` and ``restore`` are called with the workspace's
    lease held; each raises ``SaveFailed``/``RestoreFailed`` (or another dockyard error)
    and leaves no unverified record behind when it fails in-process."""

    @property
    def name(self) -> SaveStrategy: ...

    @property
    def uses_volume(self) -> bool:
        """The work lives on the workspace's named volume (else in the container)."""
        ...

    def save(
        self, ctx: Context, ws: Workspace, container: ContainerInfo, *, progress: Progress
    ) -> Checkpoint:
        """Save from ``container`` (running or stopped); the verified checkpoint."""
        ...

    def restore(
        self,
        ctx: Context,
        checkpoint: Checkpoint,
        *,
        container: str,
        rewind: bool,
        progress: Progress,
    ) -> None:
        """Put ``checkpoint``'s work into the running ``container`` (``rewind``: an older
        checkpoint than the work on a kept volume)."""
        ...

    def image_for(self, ws: Workspace, checkpoint: Checkpoint | None) -> str:
        """The image a container restoring ``checkpoint`` runs."""
        ...


STRATEGIES: Mapping[SaveStrategy, Strategy] = {
    SaveStrategy.VOLUME: VolumeStrategy(),
    SaveStrategy.GIT: GitStrategy(),
    SaveStrategy.IMAGE: ImageStrategy(),
}


def strategy_for(name: SaveStrategy) -> Strategy:
    return STRATEGIES[name]


def uses_volume(ws: Workspace) -> bool:
    return strategy_for(ws.strategy).uses_volume


def image_for(ws: Workspace, checkpoint: Checkpoint | None) -> str:
    """The image a restored container of ``ws`` runs (the checkpoint's strategy says)."""
    name = checkpoint.strategy if checkpoint is not None else ws.strategy
    return strategy_for(name).image_for(ws, checkpoint)


def save_work(
    ctx: Context, ws: Workspace, container: ContainerInfo | None, *, progress: Progress
) -> Checkpoint:
    """Save ``ws``'s work (the caller holds its lease) and return the verified checkpoint.

    ``container`` is its container as inspected now, or None if it is gone. Raises
    ``SaveFailed`` (or another ``DockyardError``) if nothing durable could be made.
    """
    checkpoints.drop_unverified(ctx, ws)
    if container is None:
        return _salvage(ctx, ws)
    return strategy_for(ws.strategy).save(ctx, ws, container, progress=progress)


def bring_back(
    ctx: Context,
    checkpoint: Checkpoint | None,
    *,
    container: str,
    rewind: bool,
    progress: Progress,
) -> None:
    """Put ``checkpoint``'s work (None: the kept volume as it is) into the running
    ``container``; ``RestoreFailed`` if it cannot."""
    if checkpoint is not None:
        strategy_for(checkpoint.strategy).restore(
            ctx, checkpoint, container=container, rewind=rewind, progress=progress
        )


def _salvage(ctx: Context, ws: Workspace) -> Checkpoint:
    """The container is gone: a park that already saved (and was cut off after removing
    it) finds its checkpoint; otherwise the kept volume is all there is."""
    for checkpoint in ctx.store.checkpoints.list(workspace_key=ws.key):
        if checkpoint.verified and checkpoint.created_at >= ws.state_changed_at:
            return checkpoint
    if uses_volume(ws) and volume_exists(ctx, ws):
        detail = "its container was gone; the volume holds the work"
        intent = checkpoints.intent(
            ctx, ws, CheckpointKind.VOLUME, ref=ws.volume, location=ws.volume, detail=detail
        )
        return checkpoints.verified(ctx, ws, intent)
    raise SaveFailed("its container is gone and no copy of its work exists")
