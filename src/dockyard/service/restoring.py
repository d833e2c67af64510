"""Bringing a checkpoint's work into a workspace's new container.

The container is created (from the workspace's image, or from the checkpoint's own
image for the ``image`` strategy) and started by the caller; this fills it:

- ``bundle``: the bundle goes into the container's /tmp, is verified there by git,
  fetched, and the work reset to the saved commit on the saved branch. It works on a
  fresh volume (the volume was lost) and on the kept one (its ignored files stay).
- ``archive``: the tar of the workdir is extracted back over it.
- ``volume``: nothing to copy: the kept volume is mounted. Rewinding to an older
  volume checkpoint (``up --from``) resets the repository to that checkpoint's commit.
- ``image`` and ``empty``: nothing to do.
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath

from dockyard.core.errors import RestoreFailed
from dockyard.core.model import Checkpoint, CheckpointKind, Workspace
from dockyard.service import gitops
from dockyard.service.checkpoints import artifact_path
from dockyard.service.context import Context, Progress
from dockyard.service.tarstreams import tar_file


def image_for(ws: Workspace, checkpoint: Checkpoint | None) -> str:
    """The image a restored container runs."""
    if checkpoint is not None and checkpoint.kind is CheckpointKind.IMAGE and checkpoint.ref:
        return checkpoint.ref
    return ws.image


def bring_back(
    ctx: Context,
    checkpoint: Checkpoint | None,
    *,
    container: str,
    rewind: bool,
    progress: Progress,
) -> None:
    """Put ``checkpoint``'s work into the running ``container``; ``RestoreFailed`` if not."""
    if checkpoint is None:
        return
    workdir = ctx.settings.workspace.workdir
    if checkpoint.kind is CheckpointKind.BUNDLE:
        path = _artifact(ctx, checkpoint)
        progress(f"restoring: importing the git history of checkpoint {checkpoint.id}")
        name = f"dockyard-{checkpoint.id}.bundle"
        ctx.engine.put_archive(
            ref=container, path=gitops.BUNDLE_DIR, data=tar_file(path, arcname=name)
        )
        _reset(ctx, container, checkpoint, bundle=f"{gitops.BUNDLE_DIR}/{name}")
    elif checkpoint.kind is CheckpointKind.ARCHIVE:
        path = _artifact(ctx, checkpoint)
        progress(f"restoring: copying checkpoint {checkpoint.id} into {workdir}")
        parent = str(PurePosixPath(workdir).parent)
        ctx.engine.put_archive(ref=container, path=parent, data=ctx.vault.read(path))
    elif checkpoint.kind is CheckpointKind.VOLUME and rewind and checkpoint.commit:
        progress(f"restoring: resetting the work to commit {checkpoint.commit[:12]}")
        _reset(ctx, container, checkpoint, bundle="")


def _artifact(ctx: Context, checkpoint: Checkpoint) -> Path:
    path = artifact_path(ctx, checkpoint)
    if not path.is_file():
        raise RestoreFailed(f"checkpoint {checkpoint.id}: its file {path} is missing")
    return path


def _reset(ctx: Context, container: str, checkpoint: Checkpoint, *, bundle: str) -> None:
    result = gitops.run_script(
        ctx.engine,
        container,
        gitops.RESTORE,
        workdir=ctx.settings.workspace.workdir,
        env={
            "DOCKYARD_BUNDLE": bundle,
            "DOCKYARD_COMMIT": checkpoint.commit or "",
            "DOCKYARD_BRANCH": checkpoint.branch or "",
        },
    )
    if not result.ok:
        raise RestoreFailed(
            f"checkpoint {checkpoint.id}: git could not restore it: {gitops.error_line(result)}"
        )
