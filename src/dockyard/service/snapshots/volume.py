"""The ``volume`` strategy (the default): the work lives on the workspace's named volume,
which outlives its container.

Save: the volume is kept. If the workdir is a git repository (a stat of its ``.git``:
no process starts in a workdir without one) a checkpoint commit is made first; if that
commit fails, the volume still holds the work exactly as it was, so the save stands and
the checkpoint says why there is no commit. Restore: nothing to copy (the volume is
mounted again); rewinding to an older checkpoint (``up --from``) resets the repository
to that checkpoint's commit.
"""

from __future__ import annotations

import logging
import posixpath
from dataclasses import replace

from dockyard.core.errors import RestoreFailed, SaveFailed
from dockyard.core.model import Checkpoint, CheckpointKind, SaveStrategy, Workspace
from dockyard.engine.models import ContainerInfo
from dockyard.service.runtime.context import Context, Progress
from dockyard.service.runtime.objects import volume_exists
from dockyard.service.snapshots import checkpoints, gitops

log = logging.getLogger("dockyard.saving")


class VolumeStrategy:
    name = SaveStrategy.VOLUME
    uses_volume = True

    def save(
        self, ctx: Context, ws: Workspace, container: ContainerInfo, *, progress: Progress
    ) -> Checkpoint:
        intent = checkpoints.intent(
            ctx, ws, CheckpointKind.VOLUME, ref=ws.volume, location=ws.volume
        )
        checkpoint = intent
        git_dir = posixpath.join(ctx.settings.workspace.workdir, ".git")
        if container.running and ctx.engine.path_exists(ref=container.id, path=git_dir):
            try:
                state = gitops.prepare(ctx, container.id, init=False)
                if state.is_repo:
                    head, _bundled = gitops.checkpoint_commit(
                        ctx, ws, container.id, state, progress
                    )
                    checkpoint = replace(
                        intent, commit=head, branch=state.branch, files_changed=state.files
                    )
            except SaveFailed as exc:
                log.warning(
                    "checkpoint commit of %s failed (the volume keeps the work): %s", ws.key, exc
                )
                detail = f"no checkpoint commit ({exc}); volume as it was"
                checkpoint = replace(intent, detail=detail)
        if not volume_exists(ctx, ws):
            checkpoints.abandon(ctx, ws)
            raise SaveFailed(f"volume {ws.volume} is gone")
        return checkpoints.verified(ctx, ws, checkpoint)

    def restore(
        self,
        ctx: Context,
        checkpoint: Checkpoint,
        *,
        container: str,
        rewind: bool,
        progress: Progress,
    ) -> None:
        restore_volume(ctx, checkpoint, container=container, rewind=rewind, progress=progress)

    def image_for(self, ws: Workspace, checkpoint: Checkpoint | None) -> str:  # noqa: ARG002
        return ws.image


def restore_volume(
    ctx: Context, checkpoint: Checkpoint, *, container: str, rewind: bool, progress: Progress
) -> None:
    """A volume checkpoint: the kept volume is mounted already. Rewinding resets the
    repository to the checkpoint's commit, if it made one."""
    if checkpoint.kind is not CheckpointKind.VOLUME:
        raise RestoreFailed(f"checkpoint {checkpoint.id}: a {checkpoint.kind} is no volume")
    if rewind and checkpoint.commit:
        progress(f"restoring: resetting the work to commit {checkpoint.commit[:12]}")
        gitops.reset_to(ctx, container, checkpoint, bundle="")
