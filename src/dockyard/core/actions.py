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
from typing import ClassVar

from dockyard.core.fleet import DEFAULT_ENGINE
from dockyard.core.gc import Item


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
    INACTIVE = "inactive"  # a session unused for longer than session_timeout


class Verb(enum.StrEnum):
    """What an action does; the same word in plans, upcoming steps and reports."""

    WARN = "warn"
    PARK = "park"
    KEEP_ALIVE = "keep alive"
    MARK_STOPPED = "mark stopped"
    MARK_RUNNING = "mark running"
    MARK_FAILED = "mark failed"
    RECOVER = "recover"
    DELETE_CHECKPOINT = "delete checkpoint"
    REMOVE_CONTAINER = "remove container"
    COLLECT = "gc"
    CLOSE_SESSION = "close session"


@dataclass(frozen=True, slots=True)
class Action:
    """Base of all actions: what it targets, why, and a line for people."""

    key: str | None
    reason: Reason
    detail: str

    verb: ClassVar[Verb]

    @property
    def kind(self) -> str:
        return type(self).__name__

    @property
    def target(self) -> str:
        return self.key or "-"


@dataclass(frozen=True, slots=True)
class Warn(Action):
    """Emit ``workspace.idle_warning`` for this deadline, once."""

    verb = Verb.WARN

    revision: int
    deadline: datetime


@dataclass(frozen=True, slots=True)
class Park(Action):
    """Save the work and remove the container."""

    verb = Verb.PARK

    revision: int


@dataclass(frozen=True, slots=True)
class KeepAlive(Action):
    """Observed busy: record activity now, which moves the idle deadline."""

    verb = Verb.KEEP_ALIVE


@dataclass(frozen=True, slots=True)
class MarkStopped(Action):
    revision: int
    verb = Verb.MARK_STOPPED


@dataclass(frozen=True, slots=True)
class MarkRunning(Action):
    revision: int
    container_id: str
    verb = Verb.MARK_RUNNING


@dataclass(frozen=True, slots=True)
class MarkFailed(Action):
    revision: int
    verb = Verb.MARK_FAILED


@dataclass(frozen=True, slots=True)
class Recover(Action):
    """Finish or undo an operation whose holder died (its lease will have expired)."""

    revision: int
    verb = Verb.RECOVER


@dataclass(frozen=True, slots=True)
class DeleteCheckpoint(Action):
    """Delete a checkpoint (its file or image, then its record): expired, or a leftover
    of a save that was cut off, or of a workspace that no longer exists."""

    checkpoint_id: str
    verb = Verb.DELETE_CHECKPOINT

    @property
    def target(self) -> str:
        return f"{self.key or '-'}@{self.checkpoint_id}"


@dataclass(frozen=True, slots=True)
class RemoveContainer(Action):
    """Remove a container that has no (current) record: an orphan or a leftover."""

    container_id: str
    name: str
    engine: str = DEFAULT_ENGINE
    verb = Verb.REMOVE_CONTAINER

    @property
    def target(self) -> str:
        return self.name


@dataclass(frozen=True, slots=True)
class Collect(Action):
    """An item of the scheduled gc: remove it (a workspace's stopped container: park it,
    saving its work first), after the same re-check ``dockyard gc`` makes."""

    item: Item
    verb = Verb.COLLECT

    @property
    def target(self) -> str:
        return self.item.name


@dataclass(frozen=True, slots=True)
class CloseSession(Action):
    """End a session nobody used for ``session_timeout`` (its process too); the
    workspace stays. Re-checked: a use since ``last_used`` keeps it open."""

    session_id: str
    last_used: datetime
    verb = Verb.CLOSE_SESSION

    @property
    def target(self) -> str:
        return f"{self.key or '-'}/{self.session_id}"


AnyAction = (
    Warn
    | Park
    | KeepAlive
    | MarkStopped
    | MarkRunning
    | MarkFailed
    | Recover
    | DeleteCheckpoint
    | RemoveContainer
    | Collect
    | CloseSession
)
"""Every action a plan can hold: what the executor matches on, exhaustively."""


@dataclass(frozen=True, slots=True)
class Upcoming:
    """What will happen to a workspace next if nothing changes, and when: the action of
    that ``verb`` for that ``reason``."""

    verb: Verb
    reason: Reason
    at: datetime

    @property
    def action(self) -> str:
        """The step as people read it (a park after a failed save is a retry)."""
        if self.verb is Verb.PARK and self.reason is Reason.SAVE_FAILED:
            return "retry park"
        return self.verb.value
