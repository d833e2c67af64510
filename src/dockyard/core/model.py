"""Workspaces, sessions and their states: plain frozen data and one transition table.

A workspace's life is one enum and one table; there are no boolean flags that could
disagree with it. ``transition`` is the only way to change a state and raises
``IllegalTransition`` for anything the table does not allow.

    creating ──> running <──> warned
        │          │  ▲          │
        │          │  └── stopped (kept, restartable)
        │          ▼             ▼
        │        parking ──> parked ──> restoring ──> running
        │          │  ▲        │
        │          ▼  │        └──> expired (saved state dropped after retention)
        │        save_failed (container kept as it was; the park is retried)
        └──> failed (any live state; crashed or vanished, with a reason)
    removed: explicit removal from any state; a removed key may be created again.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime

from dockyard.core.errors import IllegalTransition
from dockyard.core.policy import PolicyOverrides, SaveStrategy

__all__ = [
    "ACTIVE_STATES",
    "CONTAINERLESS_STATES",
    "LIVE_STATES",
    "QUOTA_STATES",
    "TRANSIENT_STATES",
    "TRANSITIONS",
    "Checkpoint",
    "CheckpointKind",
    "Outcome",
    "PolicyOverrides",
    "Resources",
    "SaveStrategy",
    "Session",
    "SessionKind",
    "SessionStatus",
    "State",
    "Workspace",
    "check_transition",
]


class State(enum.StrEnum):
    CREATING = "creating"
    RUNNING = "running"
    WARNED = "warned"
    STOPPED = "stopped"
    PARKING = "parking"
    SAVE_FAILED = "save_failed"
    PARKED = "parked"
    RESTORING = "restoring"
    FAILED = "failed"
    EXPIRED = "expired"
    REMOVED = "removed"


S = State
TRANSITIONS: Mapping[State, frozenset[State]] = {
    S.CREATING: frozenset({S.RUNNING, S.FAILED, S.REMOVED}),
    S.RUNNING: frozenset({S.RUNNING, S.WARNED, S.STOPPED, S.PARKING, S.FAILED, S.REMOVED}),
    S.WARNED: frozenset({S.RUNNING, S.STOPPED, S.PARKING, S.FAILED, S.REMOVED}),
    S.STOPPED: frozenset({S.RUNNING, S.PARKING, S.FAILED, S.REMOVED}),
    S.PARKING: frozenset({S.PARKED, S.SAVE_FAILED, S.RUNNING, S.STOPPED, S.FAILED, S.REMOVED}),
    S.SAVE_FAILED: frozenset({S.PARKING, S.RUNNING, S.STOPPED, S.FAILED, S.REMOVED}),
    S.PARKED: frozenset({S.RESTORING, S.EXPIRED, S.REMOVED}),
    S.RESTORING: frozenset({S.RUNNING, S.PARKED, S.FAILED, S.REMOVED}),
    S.FAILED: frozenset({S.RUNNING, S.RESTORING, S.PARKING, S.REMOVED}),
    S.EXPIRED: frozenset({S.CREATING, S.REMOVED}),
    S.REMOVED: frozenset({S.CREATING, S.RESTORING}),
}

#: States in which the workspace has (or is getting) a container that may be running.
LIVE_STATES = frozenset({S.CREATING, S.RUNNING, S.WARNED, S.RESTORING, S.PARKING, S.SAVE_FAILED})
#: States in which the workspace's container is expected to be running.
ACTIVE_STATES = frozenset({S.RUNNING, S.WARNED})
#: States of a record mid-operation: a lease holder is working on it.
TRANSIENT_STATES = frozenset({S.CREATING, S.RESTORING, S.PARKING})
#: States in which the workspace should have no container.
CONTAINERLESS_STATES = frozenset({S.PARKED, S.REMOVED, S.EXPIRED})
#: States that hold (or are getting) a running container: what the owner quota counts.
QUOTA_STATES = frozenset({S.CREATING, S.RESTORING, *ACTIVE_STATES})


class Outcome(enum.StrEnum):
    """What an acquire did, as the caller is told."""

    CREATED = "created"
    REUSED = "reused"
    STARTED = "started"
    RESTORED = "restored"


class CheckpointKind(enum.StrEnum):
    """Where a checkpoint's work is and how it comes back."""

    VOLUME = "volume"  # the workspace volume, kept (maybe with a checkpoint commit in it)
    BUNDLE = "bundle"  # a git bundle in dockyard's checkpoint storage
    ARCHIVE = "archive"  # a tar of the workspace directory (a container that could not run git)
    IMAGE = "image"  # a committed image of the whole container
    EMPTY = "empty"  # there was nothing to save


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """One saved copy of a workspace's work. Written unverified (the intent) before the
    save starts, marked verified once the copy is durable and checked."""

    id: str
    workspace_key: str
    strategy: SaveStrategy
    kind: CheckpointKind
    created_at: datetime
    expires_at: datetime
    verified: bool = False
    ref: str | None = None  # the commit sha, volume name or image id
    location: str | None = None  # the bundle/archive path, volume name or image reference
    commit: str | None = None  # the git commit the work is at, when there is one
    branch: str | None = None  # the branch HEAD pointed to (None: detached or not git)
    files_changed: int | None = None  # files in the checkpoint commit; None: no commit made
    size_bytes: int | None = None
    detail: str = ""


class SessionKind(enum.StrEnum):
    EXEC = "exec"  # one command, the session lasts as long as it runs
    SHELL = "shell"  # an interactive terminal (a PTY)
    COMMAND = "command"  # a persistent shell that runs commands one after another
    AGENT = "agent"
    API = "api"


#: Kinds that own a process in the container, which closing the session ends.
LIVE_KINDS = frozenset({SessionKind.SHELL, SessionKind.COMMAND})


class CloseReason(enum.StrEnum):
    """Why a session is ``dead``."""

    CLOSED = "closed"  # its user closed it
    INACTIVE = "inactive"  # unused for longer than session_timeout
    ENDED = "ended"  # its process ended (an exec finished, a shell exited)
    PARKED = "parked"  # its workspace was parked
    STOPPED = "stopped"  # its workspace was stopped
    REMOVED = "removed"  # its workspace was removed


class SessionStatus(enum.StrEnum):
    ACTIVE = "active"
    DETACHED = "detached"
    DEAD = "dead"


@dataclass(frozen=True, slots=True)
class Resources:
    """Per-container limits. ``nano_cpus`` is CPUs x 1e9, as the engine takes it.
    ``disk_bytes``: the size of the workspace volume's own file system (None: no cap, the
    volume shares the engine's disk)."""

    memory_bytes: int
    nano_cpus: int
    pids: int
    disk_bytes: int | None = None

    @property
    def cpus(self) -> float:
        return self.nano_cpus / 1e9


@dataclass(frozen=True, slots=True)
class Workspace:
    key: str
    name: str
    volume: str
    owner: str
    image: str
    resources: Resources
    state: State
    created_at: datetime
    state_changed_at: datetime
    last_activity_at: datetime
    repo: str | None = None
    branch: str | None = None
    strategy: SaveStrategy = SaveStrategy.VOLUME
    keep: bool = False
    labels: Mapping[str, str] = field(default_factory=dict)
    overrides: PolicyOverrides = field(default_factory=PolicyOverrides)
    reason: str | None = None
    container_id: str | None = None
    engine: str = "default"
    started_at: datetime | None = None
    extended_until: datetime | None = None
    warned_deadline: datetime | None = None
    checkpoint_id: str | None = None  # the newest checkpoint parked to (or restored from)
    save_attempts: int = 0  # failed saves since the last successful park, for the backoff
    #: its disk use is past ``policy.disk_warning`` of its cap (warned once per crossing)
    disk_warned: bool = False
    revision: int = 0  # bumped by the store on every write: optimistic concurrency

    def transition(self, to: State, *, now: datetime, reason: str | None = None) -> Workspace:
        """Return this workspace in state ``to``, or raise ``IllegalTransition``."""
        check_transition(self.state, to, key=self.key)
        return replace(self, state=to, state_changed_at=now, reason=reason)


def check_transition(current: State, to: State, *, key: str) -> None:
    if to not in TRANSITIONS[current]:
        raise IllegalTransition(f"workspace {key!r} cannot go from {current} to {to}")


@dataclass(frozen=True, slots=True)
class Session:
    id: str
    workspace_key: str
    kind: SessionKind
    status: SessionStatus
    created_at: datetime
    last_used: datetime
    holder: str
    description: str = ""
    closed_reason: CloseReason | None = None
    #: when the command in flight started (a ``command`` session runs one at a time)
    running_since: datetime | None = None

    @property
    def live(self) -> bool:
        return self.status is not SessionStatus.DEAD
