"""The ``git`` strategy: the work is committed inside the container and its whole
history exported as a git bundle, stored outside the container (the vault).

Save: ``git add -A`` and a commit (hooks off, dockyard as author, the message naming
the key, the UTC time and the files changed; none if nothing changed); the whole history
bundled, checked by git inside, copied into the vault and checked again there (checksum,
bundle header holding the commit). A container that cannot run git any more (stopped,
crashed) is saved as a tar archive of its workdir, read from the stopped container.

Restore: the bundle goes into the container's /tmp, is verified there by git, fetched,
and the work reset to the saved commit on the saved branch; it works on a fresh volume
(the volume was lost) and on the kept one (its ignored files stay). An archive is
extracted back over the workdir. A volume checkpoint (the container was gone when the
workspace was parked) needs nothing: the kept volume is mounted.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path, PurePosixPath

from dockyard.archives import count_members, single_file, tar_file
from dockyard.core.checkpoints import MAX_BUNDLE_HEADER, check_bundle, parse_bundle_header
from dockyard.core.errors import RestoreFailed, SaveFailed
from dockyard.core.model import Checkpoint, CheckpointKind, SaveStrategy, Workspace
from dockyard.engine.models import ContainerInfo
from dockyard.service.runtime.context import Context, Progress
from dockyard.service.snapshots import checkpoints, gitops
from dockyard.service.snapshots.volume import restore_volume


class GitStrategy:
    name = SaveStrategy.GIT
    uses_volume = True

    def save(
        self, ctx: Context, ws: Workspace, container: ContainerInfo, *, progress: Progress
    ) -> Checkpoint:
        if container.running:
            return _save_bundle(ctx, ws, container, progress)
        return _save_archive(ctx, ws, container, progress)

    def restore(
        self,
        ctx: Context,
        checkpoint: Checkpoint,
        *,
        container: str,
        rewind: bool,
        progress: Progress,
    ) -> None:
        workdir = ctx.settings.workspace.workdir
        match checkpoint.kind:
            case CheckpointKind.BUNDLE:
                path = _artifact(ctx, checkpoint)
                progress(f"restoring: importing the git history of checkpoint {checkpoint.id}")
                name = f"dockyard-{checkpoint.id}.bundle"
                ctx.engine.put_archive(
                    ref=container, path=gitops.BUNDLE_DIR, data=tar_file(path, arcname=name)
                )
                gitops.reset_to(ctx, container, checkpoint, bundle=f"{gitops.BUNDLE_DIR}/{name}")
            case CheckpointKind.ARCHIVE:
                path = _artifact(ctx, checkpoint)
                progress(f"restoring: copying checkpoint {checkpoint.id} into {workdir}")
                parent = str(PurePosixPath(workdir).parent)
                data = checkpoints.vault(ctx).read(path)
                ctx.engine.put_archive(ref=container, path=parent, data=data)
            case CheckpointKind.VOLUME:
                restore_volume(
                    ctx, checkpoint, container=container, rewind=rewind, progress=progress
                )
            case CheckpointKind.EMPTY | CheckpointKind.IMAGE:
                return

    def image_for(self, ws: Workspace, checkpoint: Checkpoint | None) -> str:  # noqa: ARG002
        return ws.image


def _save_bundle(
    ctx: Context, ws: Workspace, container: ContainerInfo, progress: Progress
) -> Checkpoint:
    vault = checkpoints.vault(ctx)
    intent = checkpoints.intent(ctx, ws, CheckpointKind.BUNDLE)
    inside = f"{gitops.BUNDLE_DIR}/dockyard-{intent.id}.bundle"
    try:
        state = gitops.prepare(ctx, container.id, init=True)
        try:
            head, made = gitops.checkpoint_commit(
                ctx, ws, container.id, state, progress, bundle=inside
            )
            if head is None:
                empty = replace(intent, kind=CheckpointKind.EMPTY, detail="nothing to save: empty")
                return checkpoints.verified(ctx, ws, empty)
            path = vault.path_for(workspace_name=ws.name, checkpoint_id=intent.id, suffix="bundle")
            intent = replace(
                intent,
                ref=head,
                commit=head,
                branch=state.branch,
                files_changed=state.files,
                location=str(path),
            )
            ctx.store.checkpoints.update(intent)  # where the copy goes, before it starts
            progress("saving: exporting the git history")
            with ctx.engine.get_archive(ref=container.id, path=inside) as chunks:
                stored = vault.write(path, single_file(chunks))
        except BaseException:
            # The container stays (nothing is removed after a failed save): tidy its /tmp.
            # After a successful save it is removed with the container, one exec cheaper.
            gitops.remove_file(ctx.engine, container.id, inside)
            raise
        _check_copy(stored.sha256, made)
        check_bundle(parse_bundle_header(vault.head(path, MAX_BUNDLE_HEADER)), commit=head)
        progress(checkpoints.STEP_EXPORTED)
        return checkpoints.verified(ctx, ws, replace(intent, size_bytes=stored.size))
    except BaseException:
        checkpoints.abandon(ctx, ws)
        raise


def _save_archive(
    ctx: Context, ws: Workspace, container: ContainerInfo, progress: Progress
) -> Checkpoint:
    vault = checkpoints.vault(ctx)
    workdir = ctx.settings.workspace.workdir
    intent = checkpoints.intent(ctx, ws, CheckpointKind.ARCHIVE)
    path = vault.path_for(workspace_name=ws.name, checkpoint_id=intent.id, suffix="tar")
    intent = replace(intent, location=str(path))
    ctx.store.checkpoints.update(intent)
    try:
        progress(f"saving: copying {workdir} out of the {container.status} container")
        with ctx.engine.get_archive(ref=container.id, path=workdir) as chunks:
            stored = vault.write(path, chunks)
        entries = count_members(vault.read(path))
        progress(checkpoints.STEP_EXPORTED)
        detail = f"archive of {workdir} ({entries} entries): the container could not run git"
        done = replace(intent, ref=stored.sha256, size_bytes=stored.size, detail=detail)
        return checkpoints.verified(ctx, ws, done)
    except BaseException:
        checkpoints.abandon(ctx, ws)
        raise


def _check_copy(copied: str, made: str | None) -> None:
    if copied != made:
        raise SaveFailed("the exported bundle differs from the one made in the container")


def _artifact(ctx: Context, checkpoint: Checkpoint) -> Path:
    path = checkpoints.artifact_path(ctx, checkpoint)
    if not path.is_file():
        raise RestoreFailed(f"checkpoint {checkpoint.id}: its file {path} is missing")
    return path
