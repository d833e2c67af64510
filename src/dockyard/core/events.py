"""Event names and the event record: what happened, to which workspace, when.

The names are the public vocabulary of webhooks, server-sent events and the event
table (DESIGN.md section 7); renaming one is a breaking change.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


class EventType(enum.StrEnum):
    WORKSPACE_CREATED = "workspace.created"
    WORKSPACE_REUSED = "workspace.reused"
    WORKSPACE_STARTED = "workspace.started"
    WORKSPACE_RESTORED = "workspace.restored"
    WORKSPACE_IDLE_WARNING = "workspace.idle_warning"
    WORKSPACE_EXTENDED = "workspace.extended"
    WORKSPACE_PARKED = "workspace.parked"
    WORKSPACE_STOPPED = "workspace.stopped"
    WORKSPACE_REMOVED = "workspace.removed"
    WORKSPACE_FAILED = "workspace.failed"
    WORKSPACE_SAVE_FAILED = "workspace.save_failed"
    WORKSPACE_DISK_WARNING = "workspace.disk_warning"
    CHECKPOINT_CREATED = "checkpoint.created"
    CHECKPOINT_DELETED = "checkpoint.deleted"
    ORPHAN_REMOVED = "orphan.removed"
    GC_REMOVED = "gc.removed"
    SESSION_OPENED = "session.opened"
    SESSION_CLOSED = "session.closed"


@dataclass(frozen=True, slots=True)
class Event:
    type: EventType
    at: datetime
    workspace_key: str | None = None
    owner: str | None = None
    data: Mapping[str, Any] = field(default_factory=dict)


def event_json(row: Mapping[str, Any]) -> dict[str, Any]:
    """An event row as the API, server-sent events, webhooks and ``events --json`` show it."""
    at = row["at"]
    return {
        "id": row.get("event_id", row.get("id")),
        "type": row["type"],
        "at": at.isoformat() if isinstance(at, datetime) else at,
        "workspace": row.get("workspace_key"),
        "owner": row.get("owner"),
        "data": row.get("data") or {},
    }
