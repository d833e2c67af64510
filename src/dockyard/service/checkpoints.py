"""Checkpoints of a workspace: listing, choosing one to restore, and deleting them.

Deleting a checkpoint deletes what it holds first (the bundle or archive file, the
snapshot image) and its record after, so a crash in between leaves a record whose
artifact is already gone, never an artifact nobody knows about. A volume checkpoint
holds nothing of its own: the volume belongs to the workspace, and ``gc`` or
``rm --purge`` removes it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from dockyard.core.errors import Conflict, InvalidInput, NotFound
from dockyard.core.events import EventType
from dockyard.core.model import Checkpoint, CheckpointKind, Workspace
from dockyard.core.units import format_size, plural
from dockyard.service.context import Context


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
    """The file of a bundle or archive checkpoint, refusing paths outside the vault."""
    path = Path(checkpoint.location or "")
    if not checkpoint.location or not ctx.vault.contains(path):
        raise Conflict(f"checkpoint {checkpoint.id} points outside the checkpoint storage")
    return path


def delete_artifact(ctx: Context, checkpoint: Checkpoint) -> None:
    """Delete what the checkpoint holds; ``Conflict`` if its image is still in use."""
    if checkpoint.kind in (CheckpointKind.BUNDLE, CheckpointKind.ARCHIVE):
        if checkpoint.location:
            ctx.vault.delete(artifact_path(ctx, checkpoint))
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


def describe(checkpoint: Checkpoint) -> str:
    """One line for people: ``checkpoint 3f2a9c01d4e2 (git bundle at a1b2c3d4e5f6, ...)``."""
    what = {
        CheckpointKind.VOLUME: f"volume {checkpoint.ref}",
        CheckpointKind.BUNDLE: "git bundle",
        CheckpointKind.ARCHIVE: "tar archive",
        CheckpointKind.IMAGE: f"image {checkpoint.location}",
        CheckpointKind.EMPTY: "empty workspace",
    }[checkpoint.kind]
    if checkpoint.commit:
        what += f" at commit {checkpoint.commit[:12]}"
    if checkpoint.files_changed:
        what += f", {plural(checkpoint.files_changed, 'file')} changed"
    if checkpoint.size_bytes is not None and checkpoint.kind is not CheckpointKind.VOLUME:
        what += f", {format_size(checkpoint.size_bytes)}"
    if checkpoint.detail:
        what += f"; {checkpoint.detail}"
    return f"checkpoint {checkpoint.id} ({what})"


def checkpoint_json(checkpoint: Checkpoint) -> dict[str, Any]:
    return {
        "id": checkpoint.id,
        "workspace": checkpoint.workspace_key,
        "strategy": checkpoint.strategy.value,
        "kind": checkpoint.kind.value,
        "ref": checkpoint.ref,
        "location": checkpoint.location,
        "commit": checkpoint.commit,
        "branch": checkpoint.branch,
        "files_changed": checkpoint.files_changed,
        "size_bytes": checkpoint.size_bytes,
        "verified": checkpoint.verified,
        "created_at": checkpoint.created_at.isoformat(),
        "expires_at": checkpoint.expires_at.isoformat(),
        "detail": checkpoint.detail,
    }
