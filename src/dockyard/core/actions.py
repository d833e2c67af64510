"""What the reconciler may do, each with a target and a reason; plain frozen data.

An action is a decision, not an instruction to do it blindly: the executor re-checks
its precondition under the workspace's lease just before acting (a request may have
touched the workspace since the plan was made), and the ``revision`` an action was
planned on must still be the record's revision for a state change to land.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime


class Reason(enum.StrEnum):
    IDLE = "idle"  # no activity until the deadline
    IDLE_SOON = "idle_soon"  # the deadline is within warn_before
    BUSY = "busy"  # CPU, a named process or a running exec: real work, no connection
    CRASHED = "crashed"  # exited non-zero or OOM-killed
    EXITED = "exited"  # stopped cleanly outside dockyard
    STOPPED_TOO_LONG = "stopped_too_long"  # stopped for longer than stopped_retention
    VANISHED = "vanished"  # the record's container is gone
    STARTED_OUTSIDE = "started_outside"  # running although the record says it is not
    INTERRUPTED = "interrupted"  # a create/restore/park whose process died midway
    ORPHAN = "orphan"  # our labels, no record
    LEFTOVER = "leftover"  # never started (a failed start)
    QUOTA = "quota"  # made room for the owner's next workspace
    SAVE_FAILED = "save_failed"  # a park whose save failed, tried again after a backoff
    EXPIRED = "expired"  # a checkpoint older than checkpoint_retention
    GC = "gc"  # garbage collection of old stopped containers
    REQUEST = "request"  # someone asked


@dataclass(frozen=True, slots=True)
class Action:
    """Base of all actions: what it targets, why, and a line for people."""

    key: str | None
    reason: Reason
    detail: str

    verb = "act"

    @property
    def kind(self) -> str:
        return type(self).__name__

    @property
    def target(self) -> str:
        return self.key or "-"


@dataclass(frozen=True, slots=True)
class Warn(Action):
    """Emit ``workspace.idle_warning`` for this deadline, once."""

    verb = "warn"

    revision: int
    deadline: datetime


@dataclass(frozen=True, slots=True)
class Park(Action):
    """Save the work and remove the container."""

    verb = "park"

    revision: int


@dataclass(frozen=True, slots=True)
class KeepAlive(Action):
    """Observed busy: record activity now, which moves the idle deadline."""

    verb = "keep alive"


@dataclass(frozen=True, slots=True)
class MarkStopped(Action):
    revision: int
    verb = "mark stopped"


@dataclass(frozen=True, slots=True)
class MarkRunning(Action):
    revision: int
    container_id: str
    verb = "mark running"


@dataclass(frozen=True, slots=True)
class MarkFailed(Action):
    revision: int
    verb = "mark failed"


@dataclass(frozen=True, slots=True)
class Recover(Action):
    """Finish or undo an operation whose holder died (its lease will have expired)."""

    revision: int
    verb = "recover"


@dataclass(frozen=True, slots=True)
class DeleteCheckpoint(Action):
    """Delete a checkpoint (its file or image, then its record): expired, or a leftover
    of a save that was cut off, or of a workspace that no longer exists."""

    checkpoint_id: str
    verb = "delete checkpoint"

    @property
    def target(self) -> str:
        return f"{self.key or '-'}@{self.checkpoint_id}"


@dataclass(frozen=True, slots=True)
class RemoveContainer(Action):
    """Remove a container that has no (current) record: an orphan or a leftover."""

    container_id: str
    name: str
    verb = "remove container"

    @property
    def target(self) -> str:
        return self.name


@dataclass(frozen=True, slots=True)
class Upcoming:
    """What will happen to a workspace next if nothing changes, and when."""

    action: str
    reason: Reason
    at: datetime
