"""The ``image`` strategy: the work lives in the container's own filesystem (no volume),
with whatever was installed, and a park is a ``docker commit`` of it.

Restore: a new container runs from the checkpoint's image; nothing to copy.
"""

from __future__ import annotations

from dataclasses import replace

from dockyard.core.errors import RestoreFailed
from dockyard.core.model import Checkpoint, CheckpointKind, SaveStrategy, Workspace
from dockyard.engine.models import ContainerInfo
from dockyard.service.runtime.context import Context, Progress
from dockyard.service.runtime.objects import labels_for
from dockyard.service.snapshots import checkpoints

#: Repository of checkpoint images (``docker images dockyard-checkpoint``).
CHECKPOINT_REPO = "dockyard-checkpoint"


class ImageStrategy:
    name = SaveStrategy.IMAGE
    uses_volume = False

    def save(
        self, ctx: Context, ws: Workspace, container: ContainerInfo, *, progress: Progress
    ) -> Checkpoint:
        intent = checkpoints.intent(ctx, ws, CheckpointKind.IMAGE)
        tag = f"{ws.name}-{intent.id}"
        intent = replace(intent, location=f"{CHECKPOINT_REPO}:{tag}")
        ctx.store.checkpoints.update(intent)
        try:
            progress(f"saving: committing container {ws.name} to image {intent.location}")
            image_id = ctx.engine.commit(
                ref=container.id,
                repo=CHECKPOINT_REPO,
                tag=tag,
                labels=labels_for(ctx, ws, role="checkpoint"),
            )
            image = ctx.engine.inspect_image(ref=image_id)
            ctx.store.images.made(image.id, at=ctx.now())  # gc may remove it, as ours
            progress(checkpoints.STEP_EXPORTED)
            done = replace(intent, ref=image.id, size_bytes=image.size)
            return checkpoints.verified(ctx, ws, done)
        except BaseException:
            checkpoints.abandon(ctx, ws)
            raise

    def restore(
        self,
        ctx: Context,  # noqa: ARG002 - the protocol's signature
        checkpoint: Checkpoint,
        *,
        container: str,  # noqa: ARG002
        rewind: bool,  # noqa: ARG002
        progress: Progress,  # noqa: ARG002
    ) -> None:
        """The container runs from the checkpoint's image: the work is in it already."""
        if checkpoint.kind is not CheckpointKind.IMAGE:
            raise RestoreFailed(f"checkpoint {checkpoint.id}: a {checkpoint.kind} is no image")

    def image_for(self, ws: Workspace, checkpoint: Checkpoint | None) -> str:
        if checkpoint is not None and checkpoint.kind is CheckpointKind.IMAGE and checkpoint.ref:
            return checkpoint.ref
        return ws.image
