"""What the client's verbs return: frozen dataclasses read from the API's JSON, with the
states and kinds as the library's own enums. Each keeps the whole answer in ``raw`` for
fields a script wants that these do not name."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from dockyard.core.model import Outcome, SessionKind, SessionStatus, State


def _time(value: Any) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


@dataclass(frozen=True, slots=True)
class WorkspaceInfo:
    key: str
    name: str
    state: State
    owner: str
    image: str
    container_status: str
    keep: bool
    last_activity_at: datetime
    idle_for_s: float | None
    deadline: datetime | None
    time_left_s: float | None
    sessions_active: int
    reason: str | None = None
    repo: str | None = None
    branch: str | None = None
    pending: Mapping[str, Any] | None = None  # what the reconciler will do next, and why
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> WorkspaceInfo:
        return cls(
            key=data["key"],
            name=data["name"],
            state=State(data["state"]),
            owner=data["owner"],
            image=data["image"],
            container_status=data["container_status"],
            keep=bool(data["keep"]),
            last_activity_at=datetime.fromisoformat(data["last_activity_at"]),
            idle_for_s=data.get("idle_for_s"),
            deadline=_time(data.get("deadline")),
            time_left_s=data.get("time_left_s"),
            sessions_active=int((data.get("sessions") or {}).get("active", 0)),
            reason=data.get("reason"),
            repo=data.get("repo"),
            branch=data.get("branch"),
            pending=data.get("pending"),
            raw=data,
        )


@dataclass(frozen=True, slots=True)
class Acquired:
    outcome: Outcome
    workspace: WorkspaceInfo
    note: str | None = None
    restored_from: str | None = None  # the checkpoint's id
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Acquired:
        restored = data.get("restored_from") or {}
        return cls(
            outcome=Outcome(data["outcome"]),
            workspace=WorkspaceInfo.from_json(data["workspace"]),
            note=data.get("note"),
            restored_from=restored.get("id"),
            raw=data,
        )


@dataclass(frozen=True, slots=True)
class Touched:
    key: str
    state: State
    last_activity_at: datetime
    deadline: datetime

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Touched:
        return cls(
            key=data["key"],
            state=State(data["state"]),
            last_activity_at=datetime.fromisoformat(data["last_activity_at"]),
            deadline=datetime.fromisoformat(data["deadline"]),
        )


@dataclass(frozen=True, slots=True)
class Changed:
    """A workspace after a park, keep, unkeep or extend: whether it changed, and how."""

    changed: bool
    detail: str
    workspace: WorkspaceInfo
    capped: bool = False  # an extension cut short by policy.max_lifetime

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Changed:
        capped = bool(data.get("capped", False))
        changed = bool(data.get("changed", True))
        detail = str(data.get("detail", ""))
        return cls(changed, detail, WorkspaceInfo.from_json(data), capped)


@dataclass(frozen=True, slots=True)
class Removed:
    key: str
    changed: bool
    purged: bool
    detail: str

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Removed:
        return cls(data["key"], bool(data["changed"]), bool(data["purged"]), data["detail"])


@dataclass(frozen=True, slots=True)
class ExecResult:
    exit_code: int
    stdout: str
    stderr: str
    timed_out: bool
    truncated: bool  # output past the server's cap was cut (stream it to get all)
    duration_s: float

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ExecResult:
        return cls(
            exit_code=int(data["exit_code"]),
            stdout=data.get("stdout", ""),
            stderr=data.get("stderr", ""),
            timed_out=bool(data["timed_out"]),
            truncated=bool(data.get("truncated", False)),
            duration_s=float(data["duration_s"]),
        )


@dataclass(frozen=True, slots=True)
class Output:
    """A piece of a streamed command's output, as it came."""

    text: str
    stream: str = "stdout"  # or "stderr" (a command session's output is one stream)


@dataclass(frozen=True, slots=True)
class SessionInfo:
    id: str
    workspace: str
    kind: SessionKind
    status: SessionStatus
    created_at: datetime
    last_used: datetime
    description: str = ""
    closed_reason: str | None = None
    running_since: datetime | None = None

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> SessionInfo:
        return cls(
            id=data["id"],
            workspace=data["workspace"],
            kind=SessionKind(data["kind"]),
            status=SessionStatus(data["status"]),
            created_at=datetime.fromisoformat(data["created_at"]),
            last_used=datetime.fromisoformat(data["last_used"]),
            description=data.get("description", ""),
            closed_reason=data.get("closed_reason"),
            running_since=_time(data.get("running_since")),
        )


@dataclass(frozen=True, slots=True)
class CommandResult:
    """A command run in a command session: its output, exit code (None when the
    session's shell ended first) and the shell's working directory after it."""

    session: str
    exit_code: int | None
    output: str
    cwd: str | None
    timed_out: bool
    truncated: bool
    session_ended: bool
    duration_s: float
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> CommandResult:
        return cls(
            session=data["session"],
            exit_code=data.get("exit_code"),
            output=data.get("output", ""),
            cwd=data.get("cwd"),
            timed_out=bool(data["timed_out"]),
            truncated=bool(data.get("truncated", False)),
            session_ended=bool(data["session_ended"]),
            duration_s=float(data["duration_s"]),
            raw=data,
        )


@dataclass(frozen=True, slots=True)
class EventInfo:
    id: int
    type: str
    at: datetime
    workspace: str | None
    owner: str | None
    data: Mapping[str, Any]

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> EventInfo:
        return cls(
            id=int(data["id"]),
            type=data["type"],
            at=datetime.fromisoformat(data["at"]),
            workspace=data.get("workspace"),
            owner=data.get("owner"),
            data=data.get("data") or {},
        )
