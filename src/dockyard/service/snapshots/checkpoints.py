"""Checkpoints of a workspace: recording a save, listing, choosing one to restore, deleting.

Every checkpoint record is written unverified *before* a save acts (its intent) and
marked verified once the copy is durable and checked. A save cut off midway leaves an
unverified record; the next save of the workspace deletes it with its partial file.

Deleting a checkpoint deletes what it holds first (the bundle or archive file, the
snapshot image) and its record after, so a crash in between leaves a record whose
artifact is already gone, never an artifact nobody knows about. A volume checkpoint
holds nothing of its own: the volume belongs to the workspace, and ``gc`` or
``rm --purge`` removes it.
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import replace
from pathlib import Path

from dockyard.core.errors import Conflict, DockyardError, InvalidInput, NotFound
from dockyard.core.events import EventType
from dockyard.core.model import Checkpoint, CheckpointKind, Workspace
from dockyard.service.runtime.context import Context
from dockyard.service.snapshots.vault import Vault

log = logging.getLogger("dockyard.checkpoints")

#: The progress message of a save whose copy is durable and checked (every strategy).
STEP_EXPORTED = "saving: exported and verified"


def vault(ctx: Context) -> Vault:
    """Where this installation keeps checkpoint files (``checkpoint_dir``)."""
    return Vault(ctx.settings.checkpoint_path)


# -- recording a save -----------------------------------------------------------------------


def intent(ctx: Context, ws: Workspace, kind: CheckpointKind, **fields: object) -> Checkpoint:
    """Record a save about to start (unverified), expiring after the retention."""
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


def verified(ctx: Context, ws: Workspace, checkpoint: Checkpoint) -> Checkpoint:
    """Mark a save's checkpoint durable and checked, and say so."""
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


def abandon(ctx: Context, ws: Workspace) -> None:
    """Undo an intent after an in-process failure (a crash leaves it to drop_unverified)."""
    try:
        drop_unverified(ctx, ws)
    except DockyardError as exc:
        log.warning("could not clean up an unfinished checkpoint of %s: %s", ws.key, exc)


# -- reading and deleting -------------------------------------------------------------------


def list_checkpoints(ctx: Context, key: str) -> list[Checkpoint]:
    """Newest first, verified or not (an unverified one is a save in progress or cut off)."""
    return ctx.store.checkpoints.list(workspace_key=key)


def resolve(ctx: Context, ws: Workspace, checkpoint_id: str) -> Checkpoint:
    """The workspace's verified checkpoint ``checkpoint_id`` (a unique prefix will do)."""
    if not checkpoint_id or len(checkpoint_id) > 64 or not checkpoint_id.isalnum():
        raise InvalidInput(f"{checkpoint_id!r} is not a checkpoint id (see `dockyard checkpoints`)")
    matches = [c for c in list_checkpoints(ctx, ws.key) if c.id.startswith(checkpoint_id)]
    if not matches:
        raise NotFound(f"workspace {ws.key!r} has no checkpoint {checkpoint_id!r}")
    if len(matches) > 1:
        raise InvalidInput(f"checkpoint id {checkpoint_id!r} is ambiguous; give more of it")
    checkpoint = matches[0]
    if not checkpoint.verified:
        raise Conflict(f"checkpoint {checkpoint.id} was never completed; it cannot be restored")
    return checkpoint


def current(ctx: Context, ws: Workspace) -> Checkpoint | None:
    """The checkpoint a parked workspace comes back from: its newest one."""
    if ws.checkpoint_id is None:
        return None
    checkpoint = ctx.store.checkpoints.get(ws.checkpoint_id)
    return checkpoint if checkpoint is not None and checkpoint.verified else None


def newest_verified(ctx: Context, key: str, *, excluding: str | None = None) -> Checkpoint | None:
    return next((c for c in list_checkpoints(ctx, key) if c.verified and c.id != excluding), None)


def artifact_path(ctx: Context, checkpoint: Checkpoint) -> Path:
    """The file of a bundle or archive checkpoint in this manager's vault, refusing paths
    outside it. A manager that mounts a shared ``checkpoint_dir`` at another path than
    the one that saved it finds the file by its place in the vault (``<workspace
    name>/<file>``, the vault's layout)."""
    path = Path(checkpoint.location or "")
    here = vault(ctx)
    if checkpoint.location and here.contains(path):
        return path
    mounted_here = here.root / path.parent.name / path.name
    if checkpoint.location and here.contains(mounted_here) and mounted_here.is_file():
        return mounted_here
    raise Conflict(f"checkpoint {checkpoint.id} points outside the checkpoint storage")


def delete_artifact(ctx: Context, checkpoint: Checkpoint) -> None:
    """Delete what the checkpoint holds; ``Conflict`` if its image is still in use."""
    if checkpoint.kind in (CheckpointKind.BUNDLE, CheckpointKind.ARCHIVE):
        if checkpoint.location:
            vault(ctx).delete(artifact_path(ctx, checkpoint))
    elif checkpoint.kind is CheckpointKind.IMAGE and checkpoint.ref:
        ctx.engine.remove_image(ref=checkpoint.location or checkpoint.ref)


def delete(ctx: Context, ws: Workspace | None, checkpoint: Checkpoint, *, reason: str) -> None:
    """Delete one checkpoint, artifact first, and say so."""
    delete_artifact(ctx, checkpoint)
    ctx.store.checkpoints.delete(checkpoint.id)
    if ws is not None:
        ctx.emit(
            EventType.CHECKPOINT_DELETED,
            ws,
            checkpoint=checkpoint.id,
            kind=checkpoint.kind.value,
            reason=reason,
        )


def drop_unverified(ctx: Context, ws: Workspace) -> int:
    """Delete the leftovers of interrupted saves (the caller holds the workspace's lease)."""
    dropped = 0
    for checkpoint in list_checkpoints(ctx, ws.key):
        if not checkpoint.verified:
            delete_artifact(ctx, checkpoint)
            ctx.store.checkpoints.delete(checkpoint.id)
            dropped += 1
    return dropped


def purge(ctx: Context, ws: Workspace) -> int:
    """Delete every checkpoint of ``ws`` (for ``rm --purge``); returns how many."""
    found = list_checkpoints(ctx, ws.key)
    for checkpoint in found:
        delete(ctx, ws, checkpoint, reason="purged")
    return len(found)
