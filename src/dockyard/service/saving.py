"""Saving a workspace's work before its container goes: one checkpoint per park.

- ``volume``: the volume is kept. If the workdir is a git repository (a stat of its
  ``.git``: no process starts in a workdir without one) a checkpoint commit
  is made first; if that commit fails, the volume still holds the work exactly as it
  was, so the save stands and the checkpoint says why there is no commit.
- ``git``: inside the container, ``git add -A`` and a commit (hooks off, dockyard as
  author, the message naming the key, the UTC time and the files changed); the whole
  history is bundled, checked inside, copied into the vault and checked again there
  (checksum, bundle header holding the commit). A container that cannot run git any
  more (stopped, crashed) is saved as a tar archive of its workdir, which the engine
  reads from the stopped container and its volume.
- ``image``: ``docker commit`` of the container, whose filesystem holds the workdir.

Every checkpoint record is written unverified *before* the save acts (its intent) and
marked verified once the copy is durable and checked. A save cut off midway leaves an
unverified record; the next save of the workspace deletes it with its partial file.
The progress messages of the steps are public (``STEP_*``): long saves show them, and
the crash-safety test stops the manager at each one.
"""

from __future__ import annotations

import logging
import posixpath
import secrets
from dataclasses import dataclass, replace

from dockyard.core.checkpoints import (
    MAX_BUNDLE_HEADER,
    check_bundle,
    commit_message,
    is_sha,
    parse_bundle_header,
    parse_fields,
)
from dockyard.core.errors import DockyardError, SaveFailed
from dockyard.core.events import EventType
from dockyard.core.model import Checkpoint, CheckpointKind, SaveStrategy, Workspace
from dockyard.engine.models import ContainerInfo
from dockyard.service import gitops
from dockyard.service.checkpoints import drop_unverified
from dockyard.service.context import Context, Progress
from dockyard.service.objects import labels_for, volume_exists
from dockyard.service.tarstreams import count_members, single_file

log = logging.getLogger("dockyard.saving")

STEP_COMMIT = "saving: committing the changes"
STEP_COMMITTED = "saving: committed"
STEP_EXPORTED = "saving: exported and verified"
#: Repository of checkpoint images (``docker images dockyard-checkpoint``).
CHECKPOINT_REPO = "dockyard-checkpoint"


@dataclass(frozen=True, slots=True)
class _GitState:
    is_repo: bool
    files: int = 0
    head: str | None = None
    branch: str | None = None


def save_work(
    ctx: Context, ws: Workspace, container: ContainerInfo | None, *, progress: Progress
) -> Checkpoint:
    """Save ``ws``'s work (the caller holds its lease) and return the verified checkpoint.

    ``container`` is its container as inspected now, or None if it is gone. Raises
    ``SaveFailed`` (or another ``DockyardError``) if nothing durable could be made.
    """
    drop_unverified(ctx, ws)
    if container is None:
        return _salvage(ctx, ws)
    if ws.strategy is SaveStrategy.IMAGE:
        return _save_image(ctx, ws, container, progress)
    if ws.strategy is SaveStrategy.GIT:
        if container.running:
            return _save_git(ctx, ws, container, progress)
        return _save_archive(ctx, ws, container, progress)
    return _save_volume(ctx, ws, container, progress)


# -- records ------------------------------------------------------------------------------


def _intent(ctx: Context, ws: Workspace, kind: CheckpointKind, **fields: object) -> Checkpoint:
    now = ctx.now()
    checkpoint = Checkpoint(
        id=secrets.token_hex(6),
        workspace_key=ws.key,
        strategy=ws.strategy,
        kind=kind,
        created_at=now,
        expires_at=now + ctx.policy_for(ws).checkpoint_retention,
        **fields,  # type: ignore[arg-type]
    )
    ctx.store.checkpoints.add(checkpoint)
    return checkpoint


def _verified(ctx: Context, ws: Workspace, checkpoint: Checkpoint) -> Checkpoint:
    done = replace(checkpoint, verified=True)
    ctx.store.checkpoints.update(done)
    ctx.emit(
        EventType.CHECKPOINT_CREATED,
        ws,
        checkpoint=done.id,
        kind=done.kind.value,
        ref=done.ref,
        commit=done.commit,
        files_changed=done.files_changed,
    )
    return done


def _abandon(ctx: Context, ws: Workspace) -> None:
    """Undo an intent after an in-process failure (a crash leaves it to drop_unverified)."""
    try:
        drop_unverified(ctx, ws)
    except DockyardError as exc:
        log.warning("could not clean up an unfinished checkpoint of %s: %s", ws.key, exc)


# -- git --------------------------------------------------------------------------------


def _git(
    ctx: Context, container: str, script: str, *, what: str, env: dict[str, str] | None = None
) -> dict[str, str]:
    result = gitops.run_script(
        ctx.engine, container, script, workdir=ctx.settings.workspace.workdir, env=env or {}
    )
    if not result.ok:
        raise SaveFailed(f"{what} failed: {gitops.error_line(result)}")
    return parse_fields(result.stdout.decode(errors="replace"))


def _prepare(ctx: Context, container: str, *, init: bool) -> _GitState:
    fields = _git(
        ctx, container, gitops.PREPARE, what="git add", env={"DOCKYARD_INIT": "1" if init else "0"}
    )
    if fields.get("repo") != "yes":
        return _GitState(is_repo=False)
    head = fields.get("head") or None
    return _GitState(
        is_repo=True,
        files=int(fields.get("files", "0") or 0),
        head=head if head and is_sha(head) else None,
        branch=fields.get("branch") or None,
    )


def _commit(
    ctx: Context,
    ws: Workspace,
    container: str,
    state: _GitState,
    progress: Progress,
    *,
    bundle: str | None = None,
) -> tuple[str | None, str | None]:
    """Commit what is staged, if anything (a clean tree makes no empty commit), and with
    ``bundle`` bundle the whole history there too, in the same exec. Returns the commit
    the work is at (None: an empty repository) and the bundle's checksum."""
    env: dict[str, str] = {}
    steps: dict[str, str] = {}  # what -> its script
    if state.files:
        progress(STEP_COMMIT)
        env["DOCKYARD_MESSAGE"] = commit_message(ws.key, at=ctx.now(), files_changed=state.files)
        steps["git commit"] = gitops.COMMIT
    if bundle is not None and (state.files or state.head):
        env["DOCKYARD_BUNDLE"] = bundle
        steps["git bundle"] = gitops.EXPORT
    if not steps:
        return state.head, None
    fields = _git(ctx, container, "\n".join(steps.values()), what=" and ".join(steps), env=env)
    head = state.head
    if state.files:
        head = fields.get("head", "")
        if not is_sha(head):
            raise SaveFailed(f"git commit printed no commit id (got {head[:40]!r})")
        progress(STEP_COMMITTED)
    return head, fields.get("sha256")


# -- strategies ---------------------------------------------------------------------------


def _save_volume(
    ctx: Context, ws: Workspace, container: ContainerInfo, progress: Progress
) -> Checkpoint:
    intent = _intent(ctx, ws, CheckpointKind.VOLUME, ref=ws.volume, location=ws.volume)
    checkpoint = intent
    git_dir = posixpath.join(ctx.settings.workspace.workdir, ".git")
    if container.running and ctx.engine.path_exists(ref=container.id, path=git_dir):
        try:
            state = _prepare(ctx, container.id, init=False)
            if state.is_repo:
                head, _bundled = _commit(ctx, ws, container.id, state, progress)
                checkpoint = replace(
                    intent, commit=head, branch=state.branch, files_changed=state.files
                )
        except SaveFailed as exc:
            log.warning(
                "checkpoint commit of %s failed (the volume keeps the work): %s", ws.key, exc
            )
            checkpoint = replace(intent, detail=f"no checkpoint commit ({exc}); volume as it was")
    if not volume_exists(ctx, ws):
        _abandon(ctx, ws)
        raise SaveFailed(f"volume {ws.volume} is gone")
    return _verified(ctx, ws, checkpoint)


def _save_git(
    ctx: Context, ws: Workspace, container: ContainerInfo, progress: Progress
) -> Checkpoint:
    intent = _intent(ctx, ws, CheckpointKind.BUNDLE)
    inside = f"{gitops.BUNDLE_DIR}/dockyard-{intent.id}.bundle"
    try:
        state = _prepare(ctx, container.id, init=True)
        try:
            head, made = _commit(ctx, ws, container.id, state, progress, bundle=inside)
            if head is None:
                empty = replace(intent, kind=CheckpointKind.EMPTY, detail="nothing to save: empty")
                return _verified(ctx, ws, empty)
            path = ctx.vault.path_for(
                workspace_name=ws.name, checkpoint_id=intent.id, suffix="bundle"
            )
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
                stored = ctx.vault.write(path, single_file(chunks))
        except BaseException:
            # The container stays (nothing is removed after a failed save): tidy its /tmp.
            # After a successful save it is removed with the container, one exec cheaper.
            gitops.remove_file(ctx.engine, container.id, inside)
            raise
        _check_copy(stored.sha256, made)
        check_bundle(parse_bundle_header(ctx.vault.head(path, MAX_BUNDLE_HEADER)), commit=head)
        progress(STEP_EXPORTED)
        return _verified(ctx, ws, replace(intent, size_bytes=stored.size))
    except BaseException:
        _abandon(ctx, ws)
        raise


def _check_copy(copied: str, made: str | None) -> None:
    if copied != made:
        raise SaveFailed("the exported bundle differs from the one made in the container")


def _save_archive(
    ctx: Context, ws: Workspace, container: ContainerInfo, progress: Progress
) -> Checkpoint:
    workdir = ctx.settings.workspace.workdir
    intent = _intent(ctx, ws, CheckpointKind.ARCHIVE)
    path = ctx.vault.path_for(workspace_name=ws.name, checkpoint_id=intent.id, suffix="tar")
    intent = replace(intent, location=str(path))
    ctx.store.checkpoints.update(intent)
    try:
        progress(f"saving: copying {workdir} out of the {container.status} container")
        with ctx.engine.get_archive(ref=container.id, path=workdir) as chunks:
            stored = ctx.vault.write(path, chunks)
        entries = count_members(ctx.vault.read(path))
        progress(STEP_EXPORTED)
        detail = f"archive of {workdir} ({entries} entries): the container could not run git"
        checkpoint = replace(intent, ref=stored.sha256, size_bytes=stored.size, detail=detail)
        return _verified(ctx, ws, checkpoint)
    except BaseException:
        _abandon(ctx, ws)
        raise


def _save_image(
    ctx: Context, ws: Workspace, container: ContainerInfo, progress: Progress
) -> Checkpoint:
    intent = _intent(ctx, ws, CheckpointKind.IMAGE)
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
        progress(STEP_EXPORTED)
        return _verified(ctx, ws, replace(intent, ref=image.id, size_bytes=image.size))
    except BaseException:
        _abandon(ctx, ws)
        raise


def _salvage(ctx: Context, ws: Workspace) -> Checkpoint:
    """The container is gone: a park that already saved (and was cut off after removing
    it) finds its checkpoint; otherwise the kept volume is all there is."""
    for checkpoint in ctx.store.checkpoints.list(workspace_key=ws.key):
        if checkpoint.verified and checkpoint.created_at >= ws.state_changed_at:
            return checkpoint
    if ws.strategy is not SaveStrategy.IMAGE and volume_exists(ctx, ws):
        detail = "its container was gone; the volume holds the work"
        intent = _intent(ctx, ws, CheckpointKind.VOLUME, ref=ws.volume, location=ws.volume)
        return _verified(ctx, ws, replace(intent, detail=detail))
    raise SaveFailed("its container is gone and no copy of its work exists")
