"""Carrying out one planned action, after re-checking that it still holds.

Time passed since the plan, so every action is re-checked just before it acts:
destructive ones take the workspace's lease (skipping it if someone else holds it: that
someone is using it), and a state change lands only if the record's revision is the one
the plan saw, so a touch or an extend that arrives meanwhile wins. 404/409 from the
engine on a removal are "already done". Errors are per action: ``execute`` never raises
for one, except ``Unavailable`` (the pass stops; the loop backs off).
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Sequence
from contextlib import suppress
from dataclasses import dataclass, replace
from typing import assert_never

from dockyard.core.actions import (
    AnyAction,
    CloseSession,
    Collect,
    DeleteCheckpoint,
    KeepAlive,
    MarkFailed,
    MarkRunning,
    MarkStopped,
    Park,
    Reason,
    Recover,
    RemoveContainer,
    Warn,
)
from dockyard.core.errors import Busy, Conflict, DockyardError, NotFound, Unavailable
from dockyard.core.events import EventType
from dockyard.core.model import CONTAINERLESS_STATES, SessionStatus, State, Workspace
from dockyard.core.naming import LABEL_INSTALLATION, LABEL_ROLE
from dockyard.core.pool import LABEL_POOL, ROLE_POOL
from dockyard.core.units import format_duration
from dockyard.service.live.closing import close_inactive
from dockyard.service.probes import running_execs
from dockyard.service.reconcile import gc
from dockyard.service.runtime.context import Context
from dockyard.service.runtime.disks import drop_volume
from dockyard.service.runtime.fleet import ACTING_S
from dockyard.service.runtime.locking import SHORT_WAIT
from dockyard.service.runtime.objects import (
    discard_container,
    find_container,
    holder_of,
    in_pool,
)
from dockyard.service.runtime.records import save_cas
from dockyard.service.snapshots import checkpoints
from dockyard.service.workspaces.parking import park_locked

log = logging.getLogger("dockyard.reconciler")


class Verdict(enum.StrEnum):
    """How an action ended."""

    DONE = "done"
    SKIPPED = "skipped"  # its precondition no longer held, or someone else holds it
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class Result:
    action: AnyAction
    outcome: Verdict
    message: str


def execute(ctx: Context, action: AnyAction) -> Result:
    """Carry out one action after re-checking it; never raises for a single action."""
    try:
        message = _execute(_on_its_engine(ctx, action), action)
    except _Skip as skip:
        return Result(action, Verdict.SKIPPED, str(skip))
    except Busy:
        return Result(action, Verdict.SKIPPED, "another operation holds the workspace")
    except Conflict as exc:
        return Result(action, Verdict.SKIPPED, f"changed since the plan ({exc})")
    except Unavailable:
        raise
    except DockyardError as exc:
        log.warning("%s %s failed: %s", action.verb, action.target, exc)
        return Result(action, Verdict.FAILED, exc.message)
    if message:
        log.info("%s %s: %s", action.verb, action.target, message)
    return Result(action, Verdict.DONE, message)


class _Skip(Exception):
    """The action's precondition no longer holds."""


def _on_its_engine(ctx: Context, action: AnyAction) -> Context:
    """The context on the engine the action is about: the container's or the item's
    (as listed), else the workspace record's; that engine's daemon checked again unless
    it was within ``ACTING_S`` (the plan may rest on a listing of another daemon)."""
    match action:
        case RemoveContainer():
            bound = ctx.on(action.engine)
        case Collect():
            bound = ctx.on(action.item.engine)
        case _:
            ws = ctx.store.workspaces.get(action.key) if action.key else None
            bound = ctx if ws is None else ctx.at(ws)
    bound.verify_engine(max_age_s=ACTING_S)
    return bound


def _execute(ctx: Context, action: AnyAction) -> str:  # noqa: PLR0911 - one case per kind
    match action:
        case Warn():
            return _warn(ctx, action)
        case Park():
            return _park(ctx, action)
        case KeepAlive():
            return _keep_alive(ctx, action)
        case MarkStopped():
            _mark(ctx, action, action.revision, State.STOPPED, action.detail)
            return "marked stopped"
        case MarkFailed():
            vanished = action.reason is Reason.VANISHED
            ws = _mark(ctx, action, action.revision, State.FAILED, action.detail, gone=vanished)
            ctx.emit(
                EventType.WORKSPACE_FAILED, ws, reason=action.reason.value, detail=action.detail
            )
            return "marked failed"
        case MarkRunning():
            return _mark_running(ctx, action)
        case Recover():
            return _recover(ctx, action)
        case RemoveContainer():
            return _remove_container(ctx, action)
        case DeleteCheckpoint():
            return _delete_checkpoint(ctx, action)
        case Collect():
            return _collect(ctx, action)
        case CloseSession():
            return _close_session(ctx, action)
        case _:
            assert_never(action)


def _close_session(ctx: Context, action: CloseSession) -> str:
    kept = close_inactive(ctx, action.session_id, last_used_at_plan=action.last_used)
    if kept is not None:
        raise _Skip(kept)
    return "closed"


def _current(ctx: Context, action: AnyAction, revision: int) -> Workspace:
    ws = ctx.store.workspaces.get(action.key or "")
    if ws is None:
        raise _Skip("the workspace is gone")
    if ws.revision != revision:
        raise _Skip("the workspace changed since the plan")
    return ws


def _save(ctx: Context, ws: Workspace, *, was: Workspace) -> None:
    if not ctx.store.workspaces.save(ws, expect_state=was.state, expect_revision=was.revision):
        raise _Skip("the workspace changed since the plan")


def _warn(ctx: Context, action: Warn) -> str:
    with ctx.lock(action.key or "", wait=SHORT_WAIT):
        return _warn_locked(ctx, action)


def _warn_locked(ctx: Context, action: Warn) -> str:
    ws = _current(ctx, action, action.revision)
    warned = replace(
        ws.transition(State.WARNED, now=ctx.now(), reason="idle"),
        warned_deadline=action.deadline,
    )
    _save(ctx, warned, was=ws)
    left = action.deadline - ctx.now()
    ctx.emit(
        EventType.WORKSPACE_IDLE_WARNING,
        warned,
        deadline=action.deadline.isoformat(),
        time_left_s=round(left.total_seconds(), 3),
    )
    return f"warned: parks in {format_duration(left)} unless used or extended"


#: Parks planned because the container is not running: re-checked against the engine.
_NOT_RUNNING_REASONS = frozenset({Reason.CRASHED, Reason.STOPPED_TOO_LONG})


def _not_running_still(ctx: Context, ws: Workspace) -> None:
    """``_Skip`` if the workspace's container runs now. The plan may rest on a listing
    taken before it started: a create that finished between the engine's listing and
    the store's read shows a running record with a container never started."""
    info = find_container(ctx, ws)
    if info is not None and info.running:
        raise _Skip("its container runs now (the plan saw it before it started)")


def _park(ctx: Context, action: Park) -> str:
    with ctx.lock(action.key or "", wait=SHORT_WAIT):
        ws = _current(ctx, action, action.revision)
        if action.reason in _NOT_RUNNING_REASONS:
            _not_running_still(ctx, ws)
        if action.reason in (Reason.IDLE, Reason.SAVE_FAILED) and ws.container_id:
            execs = running_execs(ctx.engine, ws.container_id)
            if execs:
                ctx.store.workspaces.touch(ws.key, at=ctx.now())
                raise _Skip(f"busy: {execs} running exec process(es)")
            commands = ctx.store.sessions.list(
                workspace_key=ws.key, statuses=[SessionStatus.ACTIVE]
            )
            if any(s.running_since is not None for s in commands):
                raise _Skip("busy: a command runs in one of its sessions")
        park_locked(
            ctx, ws, reason=action.reason, detail=action.detail, expect_revision=ws.revision
        )
    return f"parked ({action.reason}: {action.detail})"


def _keep_alive(ctx: Context, action: KeepAlive) -> str:
    if not ctx.store.workspaces.touch(action.key or "", at=ctx.now()):
        raise _Skip("not running any more")
    return f"kept alive: {action.detail}"


def _mark(
    ctx: Context, action: AnyAction, revision: int, to: State, reason: str, *, gone: bool = False
) -> Workspace:
    """``gone``: the plan says the container vanished; it is looked up again first (the
    engine was listed before the store was read: a container made and recorded in
    between was not in the listing)."""
    # under the lease: while an operation holds it (an rm removing the container), what
    # the engine shows is that operation's doing, not a container that vanished or stopped
    with ctx.lock(action.key or "", wait=SHORT_WAIT):
        ws = _current(ctx, action, revision)
        if gone and _still_there(ctx, ws):
            raise _Skip("its container is there (made after the listing the plan saw)")
        if not gone and to in (State.STOPPED, State.FAILED):
            _not_running_still(ctx, ws)
        marked = ws.transition(to, now=ctx.now(), reason=reason)
        _save(ctx, marked, was=ws)
        return marked


def _still_there(ctx: Context, ws: Workspace) -> bool:
    try:
        return find_container(ctx, ws) is not None
    except Conflict:  # a container not ours has its name: the workspace's own is gone
        return False


def _mark_running(ctx: Context, action: MarkRunning) -> str:
    with ctx.lock(action.key or "", wait=SHORT_WAIT):
        ws = _current(ctx, action, action.revision)
        now = ctx.now()
        running = replace(
            ws.transition(State.RUNNING, now=now, reason=action.detail),
            container_id=action.container_id,
            last_activity_at=now,
            started_at=now,
        )
        _save(ctx, running, was=ws)
    return "adopted its running container"


def _recover(ctx: Context, action: Recover) -> str:
    # Taking the lease proves its previous holder is gone (a live one keeps renewing it).
    with ctx.lock(action.key or "", wait=SHORT_WAIT):
        ws = _current(ctx, action, action.revision)
        ctx.ensure_locked(ws.key)
        match ws.state:
            case State.CREATING:
                discard_container(ctx, ws)
                with suppress(Conflict):
                    drop_volume(ctx, ws.volume)
                ctx.store.workspaces.delete(ws.key)
                ctx.emit(
                    EventType.WORKSPACE_FAILED, ws, reason="interrupted", detail="creation undone"
                )
                return "undid an interrupted creation"
            case State.RESTORING:
                discard_container(ctx, ws)
                back = ws.transition(State.PARKED, now=ctx.now(), reason="restore interrupted")
                save_cas(ctx, back, expect=State.RESTORING)
                return "an interrupted restore went back to parked"
            case State.PARKING:
                park_locked(
                    ctx, ws, reason=Reason.INTERRUPTED, detail="finishing an interrupted park"
                )
                return "finished an interrupted park"
            case _:
                raise _Skip(f"it is {ws.state} now")


def _remove_container(ctx: Context, action: RemoveContainer) -> str:
    try:
        info = ctx.engine.inspect_container(ref=action.container_id)
    except NotFound:
        return "already gone"
    if info.labels.get(LABEL_INSTALLATION) != ctx.installation:
        raise _Skip("not this installation's container")  # never, but never is cheap to check
    if in_pool(ctx, info.id):
        raise _Skip("it is a ready container of the pool now")
    key = holder_of(ctx, info.id, info.labels)
    if key:
        with ctx.lock(key, wait=SHORT_WAIT):
            ws = ctx.store.workspaces.get(key)
            if (
                ws is not None
                and ws.state not in CONTAINERLESS_STATES
                and (info.name == ws.name or info.id == ws.container_id)
            ):
                raise _Skip(f"workspace {key!r} claims it now ({ws.state})")
            ctx.ensure_locked(key)
            ctx.engine.remove_container(ref=action.container_id)
    else:
        ctx.engine.remove_container(ref=action.container_id)
        if info.labels.get(LABEL_ROLE) == ROLE_POOL:
            _remove_pool_volumes(ctx, info.volumes)
    ctx.publish(
        EventType.ORPHAN_REMOVED,
        key=key,
        container=info.name,
        reason=action.reason.value,
        detail=action.detail,
    )
    return f"removed {info.name} ({action.reason}: {action.detail})"


def _remove_pool_volumes(ctx: Context, names: Sequence[str]) -> None:
    """The volumes of an orphan made for the pool: nobody's work (no record names them)."""
    held = ctx.store.workspaces.keys_of_volumes(names)
    for name in names:
        if name in held:
            continue
        try:
            volume = ctx.engine.inspect_volume(name=name)
        except NotFound:
            continue
        if (
            volume.labels.get(LABEL_INSTALLATION) == ctx.installation
            and LABEL_POOL in volume.labels
        ):
            with suppress(Conflict):  # mounted again meanwhile: gc's to judge later
                ctx.engine.remove_volume(name=name)


def _delete_checkpoint(ctx: Context, action: DeleteCheckpoint) -> str:
    key = action.key or ""
    with ctx.lock(key, wait=SHORT_WAIT):
        checkpoint = ctx.store.checkpoints.get(action.checkpoint_id)
        if checkpoint is None:
            return "already gone"
        ws = ctx.store.workspaces.get(key)
        if action.reason is Reason.EXPIRED and ctx.now() < checkpoint.expires_at:
            raise _Skip("not expired any more")
        if action.reason is Reason.LEFTOVER and (
            checkpoint.verified or (ws is not None and ws.state is State.PARKING)
        ):
            raise _Skip("its save is at work again")
        if action.reason is Reason.ORPHAN and ws is not None:
            raise _Skip("its workspace exists again")
        ctx.ensure_locked(key)
        checkpoints.delete(ctx, ws, checkpoint, reason=action.reason.value)
        if ws is not None and ws.checkpoint_id == checkpoint.id:
            _repoint(ctx, ws, deleted=checkpoint.id)
    return f"deleted checkpoint {checkpoint.id} ({action.reason}: {action.detail})"


def _collect(ctx: Context, action: Collect) -> str:
    item = action.item
    try:
        outcome = gc.apply_item(ctx, item)
    except gc.Skip as skip:
        raise _Skip(str(skip)) from None
    return f"{outcome} {item.kind} {item.name} ({item.reason})"


def _repoint(ctx: Context, ws: Workspace, *, deleted: str) -> None:
    """The workspace's newest checkpoint is gone: point at the next newest; a parked
    workspace with none left has ``expired`` (its next ``up`` starts over)."""
    newest = checkpoints.newest_verified(ctx, ws.key, excluding=deleted)
    updated = replace(ws, checkpoint_id=newest.id if newest else None)
    if newest is None and ws.state is State.PARKED:
        updated = replace(
            ws.transition(State.EXPIRED, now=ctx.now(), reason="its checkpoints expired"),
            checkpoint_id=None,
        )
    if not ctx.store.workspaces.save(updated, expect_state=ws.state, expect_revision=ws.revision):
        raise Conflict(f"workspace {ws.key!r} changed while its checkpoint was deleted")
