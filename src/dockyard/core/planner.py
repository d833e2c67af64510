"""The planner: from records and what the engine shows, decide what to do and why.

``plan`` is a pure function (no I/O, no clock: ``now`` is an argument), so the reconcile
loop, ``clean --dry-run``, ``ls`` and the stats API all see the same decisions, and
tests state the rules as tables. Per workspace, at most one action is due now; the
``upcoming`` map says what comes next and when, and ``next_wakeup`` is the earliest of
those moments, which is when the loop should look again.

Rules (DESIGN.md section 4), for each record by state:

    running/warned  container running: busy near the deadline -> keep alive;
                    deadline passed -> park (idle); within warn_before -> warn once
                    container exited non-zero or OOM -> park (crashed); exited 0 ->
                    mark stopped; container gone -> mark failed (vanished)
    stopped         past stopped_retention -> park; running again -> mark running
    failed          container left (not running) -> park (crashed); running -> mark running
    creating/restoring/parking for longer than interrupted_after, or at once when its
                    operation's holder is known gone (abandoned) -> recover
    save_failed     container left -> park again once the backoff has passed
                    (doubling per failure); container gone -> mark failed
    parked/removed/expired with a stopped container -> remove it (orphan)

Checkpoints: past ``expires_at`` -> delete (not an image snapshot its workspace's
container runs from); unverified (a save cut off) while its workspace is not parking,
after ``interrupted_after`` -> delete; no workspace record at all -> delete.

Sessions (not one-shot execs) unused for ``session_timeout`` are closed (inactive),
except one with a command in flight for a live holder; their workspace stays. None of a
workspace that is being parked, or whose operation is under way.

Containers with this installation's labels and no record are orphans, removed after
``orphan_grace``; those never started (a failed start) after ``leftover_grace``.
Never touched: anything with ``keep`` (record or label), and running containers
without a record inside their grace; other installations' containers are not even
observed (the listing is filtered by installation id).

Several engines: a record's container is looked for on the record's engine only. A
record on an engine that was not listed in this pass (``unreachable``: down, refused as
another daemon, not configured) is unknown, not gone: no action of any kind is planned
for it or for its checkpoints, and no deadline of it wakes the loop.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime

from dockyard.core.actions import (
    AnyAction,
    CloseSession,
    DeleteCheckpoint,
    KeepAlive,
    MarkFailed,
    MarkRunning,
    MarkStopped,
    Park,
    Reason,
    Recover,
    RemoveContainer,
    Upcoming,
    Verb,
    Warn,
)
from dockyard.core.deadlines import idle_deadline, save_retry_at, warn_lead
from dockyard.core.fleet import DEFAULT_ENGINE
from dockyard.core.model import (
    ACTIVE_STATES,
    CONTAINERLESS_STATES,
    TRANSIENT_STATES,
    Checkpoint,
    CheckpointKind,
    Session,
    SessionKind,
    SessionStatus,
    State,
    Workspace,
)
from dockyard.core.policy import Policy
from dockyard.core.units import format_duration

RUNNING_STATUSES = frozenset({"running", "paused", "restarting"})


@dataclass(frozen=True, slots=True)
class ObservedContainer:
    """A container carrying this installation's labels, as the engine shows it."""

    id: str
    name: str
    key: str | None
    status: str
    created_at: datetime | None
    exit_code: int | None = None
    oom_killed: bool = False
    started_at: datetime | None = None
    finished_at: datetime | None = None
    keep: bool = False
    #: Someone asked the engine to stop or kill it (``docker stop``): an exit it caused
    #: (143 when an init passes SIGTERM on) is a stop, not a crash.
    stop_requested: bool = False
    engine: str = DEFAULT_ENGINE
    #: Made for the warm pool (``core.pool``); ``pooled``: still waiting there, the
    #: pool's to look after, nobody's orphan.
    from_pool: bool = False
    pooled: bool = False

    @property
    def running(self) -> bool:
        return self.status in RUNNING_STATUSES


@dataclass(frozen=True, slots=True)
class Activity:
    """Observed signs of use of one workspace beyond its recorded activity."""

    last_session_use: datetime | None = None
    busy: str | None = None  # why it is busy right now ("cpu 37%", "1 running exec")
    #: creating/restoring/parking, and nobody live holds its lease: the operation was cut off
    abandoned: bool = False


@dataclass(frozen=True, slots=True)
class Plan:
    actions: tuple[AnyAction, ...]
    upcoming: Mapping[str, Upcoming] = field(default_factory=dict)
    next_wakeup: datetime | None = None

    def for_key(self, key: str) -> AnyAction | None:
        return next((a for a in self.actions if a.key == key), None)


def last_activity(ws: Workspace, activity: Activity | None) -> datetime:
    """The latest sign of use: recorded activity or a live session's last use."""
    session_use = activity.last_session_use if activity else None
    if session_use is not None and session_use > ws.last_activity_at:
        return session_use
    return ws.last_activity_at


def effective_deadline(ws: Workspace, policy: Policy, activity: Activity | None) -> datetime:
    return idle_deadline(replace(ws, last_activity_at=last_activity(ws, activity)), policy)


def idle_candidates(
    *, now: datetime, policy: Policy, workspaces: Sequence[Workspace]
) -> list[Workspace]:
    """Running workspaces due a warning or a park now, unless they are busy: the ones
    worth probing for busyness (a warned one is not probed again until its deadline)."""
    result = []
    for ws in workspaces:
        if ws.state not in ACTIVE_STATES or ws.keep:
            continue
        effective = policy.for_workspace(owner=ws.owner, repo=ws.repo, overrides=ws.overrides)
        deadline = idle_deadline(ws, effective)
        warn_due = now >= deadline - warn_lead(effective) and ws.warned_deadline != deadline
        if warn_due or now >= deadline:
            result.append(ws)
    return result


def plan(
    *,
    now: datetime,
    policy: Policy,
    workspaces: Sequence[Workspace],
    containers: Sequence[ObservedContainer],
    activity: Mapping[str, Activity] | None = None,
    checkpoints: Sequence[Checkpoint] = (),
    unreachable: Collection[str] = (),
    sessions: Sequence[Session] = (),
) -> Plan:
    activity = activity or {}
    by_id = {(c.engine, c.id): c for c in containers}
    by_name = {(c.engine, c.name): c for c in containers}
    records = {ws.key: ws for ws in workspaces}
    unknown = {ws.key for ws in workspaces if ws.engine in unreachable}
    claimed: set[tuple[str, str]] = set()
    actions: list[AnyAction] = []
    upcoming: dict[str, Upcoming] = {}
    policies: dict[str, Policy] = {}

    for ws in workspaces:
        if ws.key in unknown:
            continue
        container = by_id.get((ws.engine, ws.container_id or "")) or by_name.get(
            (ws.engine, ws.name)
        )
        if container is not None:
            claimed.add((container.engine, container.id))
        effective = policy.for_workspace(owner=ws.owner, repo=ws.repo, overrides=ws.overrides)
        policies[ws.key] = effective
        action, next_up = _plan_workspace(now, effective, ws, container, activity.get(ws.key))
        if action is not None:
            actions.append(action)
        if next_up is not None:
            upcoming[ws.key] = next_up

    wakeups = [u.at for u in upcoming.values()]
    parking = {a.key for a in actions if isinstance(a, Park)}
    for session in sessions:
        record = records.get(session.workspace_key)
        if record is not None and record.key not in unknown | parking:
            action, due = _plan_session(now, policies[record.key], record, session)
            actions.extend([action] if action is not None else [])
            wakeups.extend([due] if action is None and due is not None else [])

    for container in containers:
        if (container.engine, container.id) in claimed or container.keep or container.pooled:
            continue
        owner = records.get(container.key or "")
        if owner is not None and (owner.state in TRANSIENT_STATES or owner.key in unknown):
            # a create/restore in flight (Recover handles it if its holder died), or its
            # record's engine is unknown now: it may be that engine's container
            continue
        action, due = _plan_unclaimed(now, policy, container)
        actions.extend([action] if action is not None else [])
        wakeups.extend([due] if action is None and due is not None else [])

    for checkpoint in checkpoints:
        if checkpoint.workspace_key not in unknown:
            record = records.get(checkpoint.workspace_key)
            action, due = _plan_checkpoint(now, policy, checkpoint, record)
            actions.extend([action] if action is not None else [])
            wakeups.extend([due] if action is None and due is not None else [])

    return Plan(
        actions=tuple(actions),
        upcoming=upcoming,
        next_wakeup=min(wakeups) if wakeups else None,
    )


Decision = tuple[AnyAction | None, Upcoming | None]


def session_due(session: Session, policy: Policy) -> datetime | None:
    """When ``session`` is closed as inactive if nobody uses it; None if never (a
    one-shot exec, a closed session, a command in flight for a live holder)."""
    if session.kind is SessionKind.EXEC or not session.live:
        return None
    if session.running_since is not None and session.status is SessionStatus.ACTIVE:
        return None
    return session.last_used + policy.session_timeout


def _plan_session(
    now: datetime, policy: Policy, ws: Workspace, session: Session
) -> tuple[CloseSession | None, datetime | None]:
    if ws.state in TRANSIENT_STATES:
        return None, None  # an operation is under way: it ends or keeps the sessions
    due = session_due(session, policy)
    if due is None or now < due:
        return None, due
    detail = (
        f"{session.kind} session unused for {format_duration(now - session.last_used)} "
        f"(session_timeout {format_duration(policy.session_timeout)})"
    )
    closing = CloseSession(
        session.workspace_key,
        Reason.INACTIVE,
        detail,
        session_id=session.id,
        last_used=session.last_used,
    )
    return closing, None


def _plan_workspace(  # noqa: PLR0911 - a dispatch on the record's state
    now: datetime,
    policy: Policy,
    ws: Workspace,
    container: ObservedContainer | None,
    activity: Activity | None,
) -> Decision:
    keep = ws.keep or (container is not None and container.keep)
    if ws.state in TRANSIENT_STATES:
        return _plan_transient(now, policy, ws, abandoned=bool(activity and activity.abandoned))
    if ws.state in CONTAINERLESS_STATES:
        return _plan_containerless(now, policy, ws, container, keep=keep)
    if ws.state is State.SAVE_FAILED:
        return _plan_save_failed(now, policy, ws, container, keep=keep)
    if container is None:
        if ws.state is State.FAILED:
            return None, None  # nothing left to save or remove: the next up restores
        return MarkFailed(
            ws.key, Reason.VANISHED, "its container is gone", revision=ws.revision
        ), None
    if ws.state in ACTIVE_STATES:
        return _plan_active(now, policy, ws, container, activity, keep=keep)
    if ws.state is State.STOPPED:
        return _plan_stopped(now, policy, ws, container, keep=keep)
    return _plan_failed(ws, container, keep=keep)


def _plan_transient(now: datetime, policy: Policy, ws: Workspace, *, abandoned: bool) -> Decision:
    due = ws.state_changed_at + policy.interrupted_after
    if now < due and not abandoned:
        return None, Upcoming(Verb.RECOVER, Reason.INTERRUPTED, due)
    detail = f"{ws.state} since {format_duration(now - ws.state_changed_at)} ago"
    if abandoned:
        detail += ", its manager gone"
    return Recover(ws.key, Reason.INTERRUPTED, detail, revision=ws.revision), None


def _plan_save_failed(
    now: datetime, policy: Policy, ws: Workspace, container: ObservedContainer | None, *, keep: bool
) -> Decision:
    if container is None:
        detail = "its container is gone (its work could not be saved)"
        return MarkFailed(ws.key, Reason.VANISHED, detail, revision=ws.revision), None
    if keep:
        return None, None
    due = save_retry_at(ws, policy)
    if now < due:
        return None, Upcoming(Verb.PARK, Reason.SAVE_FAILED, due)
    detail = f"attempt {ws.save_attempts + 1}; last: {ws.reason or 'save failed'}"
    return Park(ws.key, Reason.SAVE_FAILED, detail, revision=ws.revision), None


def _plan_checkpoint(
    now: datetime, policy: Policy, checkpoint: Checkpoint, ws: Workspace | None
) -> tuple[AnyAction | None, datetime | None]:
    key = checkpoint.workspace_key
    if ws is None:
        detail = "its workspace no longer exists"
        return DeleteCheckpoint(key, Reason.ORPHAN, detail, checkpoint_id=checkpoint.id), None
    if not checkpoint.verified:
        return _plan_unverified(now, policy, checkpoint, ws)
    if now < checkpoint.expires_at:
        return None, checkpoint.expires_at
    runs_from_it = (
        checkpoint.kind is CheckpointKind.IMAGE
        and ws.checkpoint_id == checkpoint.id
        and ws.state not in CONTAINERLESS_STATES
    )
    if runs_from_it:
        return None, None  # its container was made from this image; next park replaces it
    detail = (
        f"older than its retention (expired {format_duration(now - checkpoint.expires_at)} ago)"
    )
    return DeleteCheckpoint(key, Reason.EXPIRED, detail, checkpoint_id=checkpoint.id), None


def _plan_unverified(
    now: datetime, policy: Policy, checkpoint: Checkpoint, ws: Workspace
) -> tuple[AnyAction | None, datetime | None]:
    if ws.state in (State.PARKING, State.SAVE_FAILED):
        return None, None  # a save is (or was just) at work; it cleans up after itself
    due = checkpoint.created_at + policy.interrupted_after
    if now < due:
        return None, due
    action = DeleteCheckpoint(
        ws.key, Reason.LEFTOVER, "a save that never completed", checkpoint_id=checkpoint.id
    )
    return action, None


def _plan_containerless(
    now: datetime, policy: Policy, ws: Workspace, container: ObservedContainer | None, *, keep: bool
) -> Decision:
    if container is None or container.running or keep:
        return None, None  # a running one might hold work: left alone
    due = (container.finished_at or container.created_at or now) + policy.orphan_grace
    if now < due:
        return None, Upcoming(Verb.REMOVE_CONTAINER, Reason.ORPHAN, due)
    detail = f"{container.status} container of a {ws.state} workspace"
    return RemoveContainer(
        ws.key,
        Reason.ORPHAN,
        detail,
        container_id=container.id,
        name=container.name,
        engine=container.engine,
    ), None


def _plan_active(
    now: datetime,
    policy: Policy,
    ws: Workspace,
    container: ObservedContainer,
    activity: Activity | None,
    *,
    keep: bool,
) -> Decision:
    if container.running:
        return _plan_idle(now, policy, ws, activity, keep=keep)
    if container.status == "created" or _crashed(container):
        if keep:
            detail = _exit_text(container) + " (kept)"
            return MarkFailed(ws.key, Reason.CRASHED, detail, revision=ws.revision), None
        return Park(ws.key, Reason.CRASHED, _exit_text(container), revision=ws.revision), None
    detail = f"its container exited (code {container.exit_code or 0})"
    if container.stop_requested:
        detail = f"its container was stopped through the engine (exit {container.exit_code})"
    return MarkStopped(ws.key, Reason.EXITED, detail, revision=ws.revision), None


def _plan_stopped(
    now: datetime, policy: Policy, ws: Workspace, container: ObservedContainer, *, keep: bool
) -> Decision:
    if container.running:
        return _mark_running(ws, container), None
    if keep:
        return None, None
    stopped_since = container.finished_at or ws.state_changed_at
    due = stopped_since + policy.stopped_retention
    if now < due:
        return None, Upcoming(Verb.PARK, Reason.STOPPED_TOO_LONG, due)
    detail = f"stopped for {format_duration(now - stopped_since)}"
    return Park(ws.key, Reason.STOPPED_TOO_LONG, detail, revision=ws.revision), None


def _plan_failed(ws: Workspace, container: ObservedContainer, *, keep: bool) -> Decision:
    if container.running:
        return _mark_running(ws, container), None
    if keep:
        return None, None
    detail = ws.reason or _exit_text(container)
    return Park(ws.key, Reason.CRASHED, detail, revision=ws.revision), None


def _plan_idle(
    now: datetime, policy: Policy, ws: Workspace, activity: Activity | None, *, keep: bool
) -> Decision:
    if keep:
        return None, None
    deadline = effective_deadline(ws, policy, activity)
    warn_at = deadline - warn_lead(policy)
    if now >= warn_at and activity is not None and activity.busy:
        return KeepAlive(ws.key, Reason.BUSY, activity.busy), None
    if now >= deadline:
        idle_for = now - last_activity(ws, activity)
        detail = f"idle for {format_duration(idle_for)}"
        return Park(ws.key, Reason.IDLE, detail, revision=ws.revision), None
    if now >= warn_at and ws.warned_deadline != deadline:
        detail = f"idle; parks in {format_duration(deadline - now)}"
        warn = Warn(ws.key, Reason.IDLE_SOON, detail, revision=ws.revision, deadline=deadline)
        return warn, Upcoming(Verb.PARK, Reason.IDLE, deadline)  # the loop wakes for the park
    if now < warn_at and ws.warned_deadline != deadline:
        return None, Upcoming(Verb.WARN, Reason.IDLE_SOON, warn_at)
    return None, Upcoming(Verb.PARK, Reason.IDLE, deadline)


def _plan_unclaimed(
    now: datetime, policy: Policy, container: ObservedContainer
) -> tuple[AnyAction | None, datetime | None]:
    created = container.created_at or now
    if container.status == "created":
        due, reason, detail = created + policy.leftover_grace, Reason.LEFTOVER, "never started"
    else:
        due, reason = created + policy.orphan_grace, Reason.ORPHAN
        detail = f"{container.status}, no record" + (
            f" of workspace {container.key!r}" if container.key else ""
        )
    if now < due:
        return None, due
    action = RemoveContainer(
        container.key,
        reason,
        detail,
        container_id=container.id,
        name=container.name,
        engine=container.engine,
    )
    return action, None


def _mark_running(ws: Workspace, container: ObservedContainer) -> MarkRunning:
    return MarkRunning(
        ws.key,
        Reason.STARTED_OUTSIDE,
        "its container is running",
        revision=ws.revision,
        container_id=container.id,
    )


def _crashed(container: ObservedContainer) -> bool:
    """Died of its own (non-zero exit nobody asked for) or of the OOM killer."""
    if container.oom_killed:
        return True
    return container.exit_code not in (None, 0) and not container.stop_requested


def _exit_text(container: ObservedContainer) -> str:
    if container.status == "created":
        return "its container never started"
    if container.oom_killed:
        return f"exited {container.exit_code} (OOM-killed)"
    return f"exited {container.exit_code}"
