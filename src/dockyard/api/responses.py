"""What the API answers, as models: the schema a client (and the fuzz run) holds every
response to. Routes build plain dicts (the views' ``to_json``); FastAPI checks each
against its model, so an answer that drifts from the schema fails in the tests instead
of in a client. Unknown keys are refused here too: the schema says all there is.

Times are RFC 3339 strings as the views write them (``...+00:00``), typed as strings
with the ``date-time`` format rather than parsed and written again.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, create_model

from dockyard.api.schemas import RECONCILER_FIELDS, fields_of
from dockyard.core.archives import EntryKind
from dockyard.core.fleet import Health
from dockyard.core.model import Outcome, SaveStrategy, SessionKind, SessionStatus, State
from dockyard.settings import PolicySettings, ReconcilerSettings

Timestamp = Annotated[str, Field(json_schema_extra={"format": "date-time"})]


class Out(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ErrorDetail(Out):
    code: str
    message: str


class ErrorOut(Out):
    """Every error: 400, 401, 403, 404, 409, 413, 422, 429, 502, 503."""

    error: ErrorDetail


#: The errors any route may answer, for the schema.
ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorOut, "description": what}
    for status, what in {
        400: "a key, owner, label, repo or branch dockyard cannot use",
        401: "no token, or an unknown one",
        403: "the token may not do this",
        404: "no such workspace or session (or not the token's owner's)",
        409: "the workspace is in a state that does not allow it",
        413: "the body is larger than api.max_body",
        422: "a body or value out of its bounds",
        429: "a quota is full",
        502: "the engine refused",
        503: "the engine or the store is unavailable (Retry-After)",
    }.items()
}


class PendingOut(Out):
    action: str
    reason: str
    detail: str | None
    at: Timestamp
    in_s: float


class ResourcesOut(Out):
    memory_bytes: int
    cpus: float
    pids: int
    disk_bytes: int | None = Field(
        description="its volume's own file system's size; null: uncapped"
    )


class SessionCounts(Out):
    active: int
    total: int


class WorkspaceOut(Out):
    key: str
    name: str
    state: State
    reason: str | None
    owner: str
    repo: str | None
    branch: str | None
    image: str
    container_id: str | None
    container_status: str
    engine: str = Field(description="the engine it lives on")
    volume: str
    strategy: SaveStrategy
    keep: bool
    labels: dict[str, str]
    resources: ResourcesOut
    created_at: Timestamp
    started_at: Timestamp | None
    last_activity_at: Timestamp
    idle_for_s: float | None
    deadline: Timestamp | None
    time_left_s: float | None
    sessions: SessionCounts
    pending: PendingOut | None
    checkpoint: str | None


class CheckpointOut(Out):
    id: str
    workspace: str
    strategy: SaveStrategy
    kind: str
    ref: str | None
    location: str | None
    commit: str | None
    branch: str | None
    files_changed: int | None
    size_bytes: int | None
    verified: bool
    created_at: Timestamp
    expires_at: Timestamp
    detail: str


class AcquireOut(Out):
    outcome: Outcome
    note: str | None
    restored_from: CheckpointOut | None
    workspace: WorkspaceOut


class WorkspaceListOut(Out):
    workspaces: list[WorkspaceOut]
    engine_ok: bool
    max_workspaces_per_owner: int


class EngineOut(Out):
    name: str
    url: str | None = Field(description="None: records name it, this manager has no such engine")
    health: Health
    daemon_id: str | None = Field(description="the daemon on record")
    seen_id: str | None = Field(description="another daemon answering there, if any")
    draining: bool
    load: int = Field(description="workspaces with a container there")
    capacity: int | None
    labels: dict[str, str]


class EngineListOut(Out):
    engines: list[EngineOut]


class EngineConfirmOut(Out):
    name: str
    daemon_id: str | None


class DrainOut(Out):
    name: str
    parked: list[str]
    stays: list[str] = Field(description="parked, but their work cannot leave the engine")
    failed: dict[str, str]


class WhoamiOut(Out):
    admin: bool
    owner: str | None


class TouchOut(Out):
    key: str
    state: State
    last_activity_at: Timestamp
    deadline: Timestamp


class RemovedOut(Out):
    key: str
    changed: bool
    purged: bool
    detail: str


class ExtendedOut(WorkspaceOut):
    capped: bool


class ChangedOut(WorkspaceOut):
    """A workspace after a park, keep or unkeep: whether it changed, and how."""

    changed: bool
    detail: str


class UsageOut(Out):
    cpu_percent: float | None
    memory_bytes: int | None
    memory_limit: int
    disk_bytes: int | None = Field(description="volume + writable layer, bytes on the disk")
    disk_volume_bytes: int | None
    disk_layer_bytes: int | None
    disk_complete: bool | None = Field(description="false: cut short, the figures are lower bounds")
    disk_limit_bytes: int | None = Field(description="the volume's own file system's size")
    disk_volume_percent: float | None = Field(description="how full that file system is")


class CheckpointListOut(Out):
    checkpoints: list[CheckpointOut]


class _EntryOut(Out):
    name: str
    kind: EntryKind
    size: int
    mode: str = Field(description="permission bits, octal")


class PathStatOut(_EntryOut):
    link_target: str = Field(description="a link's target; empty for anything else")


class FileEntryOut(_EntryOut):
    modified: int = Field(description="seconds since the epoch")


class ListingOut(Out):
    path: str
    entries: list[FileEntryOut]
    truncated: bool


class UploadedOut(Out):
    path: str = Field(description="the directory extracted into, or the file written")
    entries: int
    size: int = Field(description="bytes received")


class ExecOut(Out):
    exit_code: int
    timed_out: bool
    stdout: str
    stderr: str
    truncated: bool = Field(description="some output was cut at 1 MiB a stream")
    stdout_bytes: int = Field(description="what the command wrote, cut or not")
    stderr_bytes: int
    duration_s: float


class SessionOut(Out):
    id: str
    workspace: str
    kind: SessionKind
    status: SessionStatus
    created_at: Timestamp
    last_used: Timestamp
    description: str
    closed_reason: str | None = None
    running_since: Timestamp | None = None


class CommandOut(Out):
    session: str
    exit_code: int | None = Field(description="null when the session's shell ended first")
    output: str
    cwd: str | None = Field(description="the shell's working directory after the command")
    timed_out: bool
    truncated: bool = Field(description="output past 1 MiB was cut (stream it to get all)")
    session_ended: bool
    duration_s: float


class SessionListOut(Out):
    sessions: list[SessionOut]


class EventOut(Out):
    id: int
    type: str
    at: Timestamp
    workspace: str | None
    owner: str | None
    data: dict[str, Any]


class EventListOut(Out):
    events: list[EventOut]


class ReconcilerOut(Out):
    running: bool
    passes: int
    last_pass_at: Timestamp | None
    last_pass_s: float | None
    next_wakeup: Timestamp | None
    last_error: str | None


class ReconcilerPolicyBase(Out):
    enabled: bool


if TYPE_CHECKING:
    ReconcilerPolicyOut = ReconcilerPolicyBase
else:
    ReconcilerPolicyOut = create_model(
        "ReconcilerPolicyOut",
        __base__=ReconcilerPolicyBase,
        __module__=__name__,
        **fields_of(ReconcilerSettings, RECONCILER_FIELDS, optional=False),
    )


class PolicyOut(PolicySettings):
    """The policy in force (its knobs as ``PUT`` takes them), the reconciler's part."""

    reconciler: ReconcilerPolicyOut
    overridden: list[str] = Field(description="fields set over the API, over the file")


class PolicyChangeOut(PolicyOut):
    before: PolicyOut


class ReconcilerChangeOut(ReconcilerOut):
    changed: bool


class PlannedOut(Out):
    action: str
    target: str
    key: str | None
    reason: str
    detail: str
    outcome: str | None = None
    message: str | None = None


class PassOut(Out):
    dry_run: bool
    actions: list[PlannedOut]
    next_wakeup: Timestamp | None


class PendingSessionOut(Out):
    id: str
    workspace: str
    kind: SessionKind
    status: SessionStatus
    inactive_time_s: float
    session_timeout_s: float
    running_command: bool
    closes_at: Timestamp | None = Field(description="null while a command runs in it")
    will_cleanup: bool = Field(description="past its session_timeout: the next pass closes it")


class SessionStatsOut(Out):
    total: int = Field(description="live sessions (active and detached)")
    active: int
    detached: int
    inactive: int = Field(description="live sessions past their session_timeout")
    workspaces_with_sessions: int
    closed_by_reason: dict[str, int]
    sessions_pending_cleanup: list[PendingSessionOut]


class PoolMemberOut(Out):
    name: str
    image: str
    engine: str
    age_s: float


class PoolOut(Out):
    """The warm pool: members wanted of each image (over every engine), the ready ones."""

    wanted: dict[str, int]
    ready: list[PoolMemberOut]
    ready_by_image: dict[str, int]


class DiskOut(Out):
    disk_bytes: int | None
    disk_volume_bytes: int | None
    disk_layer_bytes: int | None
    disk_complete: bool | None
    disk_limit_bytes: int | None
    disk_volume_percent: float | None


class DiskStatsOut(Out):
    total_bytes: int = Field(description="all running workspaces' disk use, bytes")
    workspaces: dict[str, DiskOut] = Field(description="each running workspace's, by key")


class StatsOut(Out):
    configuration: dict[str, Any]
    engine_ok: bool
    workspaces_by_state: dict[str, int]
    workspaces_by_owner: dict[str, int]
    sessions: SessionStatsOut
    disk: DiskStatsOut
    pending_cleanup: list[dict[str, Any]]
    pool: PoolOut
    reconciler: ReconcilerOut
