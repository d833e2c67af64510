"""Closing a session: its record is ``dead`` with a reason and its process in the
container ends (a ``shell``'s PTY, a ``command`` session's shell and background jobs);
the workspace stays.

A close the reconciler planned (``inactive``) is re-checked in the same write that
closes the record: a use since the plan, or a command started meanwhile, keeps the
session open.
"""

from __future__ import annotations

from datetime import datetime

from dockyard.core.model import ACTIVE_STATES, LIVE_KINDS, CloseReason, Session, Workspace
from dockyard.service.live.commands import drop_channel
from dockyard.service.live.processes import end_processes
from dockyard.service.live.terminals import drop_terminal
from dockyard.service.runtime.context import Context
from dockyard.service.runtime.records import get_workspace
from dockyard.service.workspaces.sessions import announce_closed, close_record


def close_session(
    ctx: Context, session: Session, reason: CloseReason = CloseReason.CLOSED
) -> Session:
    """Close ``session`` (its process first); as recorded."""
    ws = get_workspace(ctx, session.workspace_key)
    if session.live:
        _end(ctx, ws, session)
    return close_record(ctx, ws, session, reason)


def close_inactive(ctx: Context, session_id: str, *, last_used_at_plan: datetime) -> str | None:
    """Close a session the plan found inactive, unless it was used since; the reason it
    was kept open, or None once closed."""
    session = ctx.store.sessions.get(session_id)
    if session is None or not session.live:
        return "the session is closed already"
    if session.last_used != last_used_at_plan:
        return "the session was used since the plan"
    if not ctx.store.sessions.close_unused(
        session.id, since=session.last_used, reason=CloseReason.INACTIVE
    ):
        return "the session was used since the plan"
    ws = get_workspace(ctx, session.workspace_key)
    _end(ctx, ws, session)
    announce_closed(ctx, ws, [session], CloseReason.INACTIVE)
    return None


def _end(ctx: Context, ws: Workspace, session: Session) -> None:
    drop_channel(session.id)
    drop_terminal(session.id)
    if session.kind in LIVE_KINDS and ws.container_id and ws.state in ACTIVE_STATES:
        end_processes(ctx.at(ws).engine, ref=ws.container_id, session_id=session.id)
