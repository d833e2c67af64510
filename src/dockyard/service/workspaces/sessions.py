"""Sessions of a workspace: opened, used and closed (each is activity on the workspace),
counted against the per-workspace limit, and recognised when their holder died.

A session left ``active`` by a process that died (a killed CLI) is recognised by its
holder (a process on this host that no longer exists): an exec session is over
(``dead``), any other is ``detached`` (it can reattach to the still-running container).
That happens before the session limit refuses a new one, and when a manager starts.

A ``command`` session in use is one with a command in flight; one that waits for its
next command does not keep its workspace from a park or a stop (its shell ends with the
container). The processes of live sessions are not "running execs".
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from dockyard.core.errors import InvalidInput, NotFound, QuotaExceeded
from dockyard.core.events import EventType
from dockyard.core.model import (
    ACTIVE_STATES,
    CloseReason,
    Session,
    SessionKind,
    SessionStatus,
    Workspace,
)
from dockyard.service.probes import running_execs
from dockyard.service.runtime.context import Context
from dockyard.service.runtime.identity import announce, holder_is_dead
from dockyard.service.runtime.records import get_workspace, not_running


@dataclass(frozen=True, slots=True)
class Usage:
    """What is using a workspace now."""

    sessions: Sequence[Session]
    processes: int

    @property
    def busy(self) -> bool:
        return bool(self.sessions) or self.processes > 0

    def describe(self) -> str:
        parts = []
        if self.sessions:
            kinds = sorted({s.kind.value for s in self.sessions})
            count = len(self.sessions)
            parts.append(f"{count} active session{'s' if count != 1 else ''} ({', '.join(kinds)})")
        if self.processes:
            plural = "es" if self.processes != 1 else ""
            parts.append(f"{self.processes} running exec process{plural}")
        return " and ".join(parts) or "nothing"


def usage(ctx: Context, ws: Workspace) -> Usage:
    """Live sessions (dead holders reaped) and exec processes running in the container."""
    reap_dead_sessions(ctx, ws.key)
    live = [
        s
        for s in ctx.store.sessions.list(workspace_key=ws.key, statuses=[SessionStatus.ACTIVE])
        if s.kind is not SessionKind.COMMAND or s.running_since is not None
    ]
    processes = 0
    if ws.container_id is not None and ws.state in ACTIVE_STATES:
        processes = running_execs(ctx.at(ws).engine, ws.container_id)
    return Usage(sessions=live, processes=processes)


def dead_holder_sessions(ctx: Context, key: str | None = None) -> list[Session]:
    """Active sessions whose holder is a process on this host that no longer exists."""
    return [
        s
        for s in ctx.store.sessions.list(workspace_key=key, statuses=[SessionStatus.ACTIVE])
        if holder_is_dead(s.holder, ctx.store)
    ]


def reap_dead_sessions(ctx: Context, key: str) -> int:
    """Sessions of dead holders stop counting as live: execs end, the rest are detached."""
    dead = dead_holder_sessions(ctx, key)
    execs = [s.id for s in dead if s.kind is SessionKind.EXEC]
    others = [s.id for s in dead if s.kind is not SessionKind.EXEC]
    return ctx.store.sessions.set_status(execs, SessionStatus.DEAD) + ctx.store.sessions.set_status(
        others, SessionStatus.DETACHED
    )


def open_session(
    ctx: Context, ws: Workspace, kind: SessionKind, description: str, *, limit: int | None
) -> Session:
    """Open a session of ``ws``; ``QuotaExceeded`` if it has ``limit`` live ones after
    the sessions of dead holders were reaped (``None``: a one-shot exec, never refused)."""
    if limit is None:
        announce(ctx.store, ctx.holder)
        return ctx.store.sessions.open(
            workspace_key=ws.key,
            kind=kind,
            holder=ctx.holder,
            at=ctx.now(),
            description=description,
        )
    announce(ctx.store, ctx.holder)  # before the holder's name is written anywhere
    for _attempt in range(2):
        session = ctx.store.sessions.open(
            workspace_key=ws.key,
            kind=kind,
            holder=ctx.holder,
            at=ctx.now(),
            description=description,
            at_most=limit,
        )
        if session is not None:
            return session
        if not reap_dead_sessions(ctx, ws.key):
            break
    raise QuotaExceeded(
        f"workspace {ws.key!r} has its limit of {limit} live sessions; close one first "
        f"(`dockyard sessions {ws.key}` lists them)"
    )


def announce_opened(ctx: Context, ws: Workspace, session: Session) -> None:
    """``session.opened``: for sessions that outlive a command (execs are too many)."""
    ctx.emit(EventType.SESSION_OPENED, ws, session=session.id, kind=session.kind.value)


def announce_closed(
    ctx: Context, ws: Workspace, sessions: Sequence[Session], reason: CloseReason
) -> None:
    """``session.closed`` with why, for each session that outlived a command."""
    for session in sessions:
        if session.kind is not SessionKind.EXEC:
            ctx.emit(
                EventType.SESSION_CLOSED,
                ws,
                session=session.id,
                kind=session.kind.value,
                reason=reason.value,
            )


def end_sessions(ctx: Context, ws: Workspace, reason: CloseReason) -> None:
    """The workspace's container goes (``reason``): its live sessions are over."""
    announce_closed(ctx, ws, ctx.store.sessions.end(workspace_key=ws.key, reason=reason), reason)


def open_for(
    ctx: Context, key: str, *, kind: SessionKind, description: str, owner: str | None = None
) -> Session:
    """Open a session of the workspace ``key`` (``owner``'s only, when given) under its
    policy's session limit."""
    ws = get_workspace(ctx, key, owner=owner)
    return open_session(
        ctx, ws, kind, description, limit=ctx.policy_for(ws).max_sessions_per_workspace
    )


def use_session(ctx: Context, ws: Workspace, session_id: str) -> Session:
    """Record a use of an open (or detached) session of ``ws``, which reattaches it to
    this process; ``NotFound`` if it is not one, or closed. Returns it as it was."""
    session = ctx.store.sessions.get(session_id)
    if session is None or session.workspace_key != ws.key:
        raise NotFound(f"workspace {ws.key!r} has no session {session_id!r}")
    announce(ctx.store, ctx.holder)
    used = ctx.store.sessions.use(session.id, workspace_key=ws.key, at=ctx.now(), holder=ctx.holder)
    if not used:
        raise NotFound(f"session {session_id!r} is closed")
    return session


def find_session(ctx: Context, session_id: str, *, owner: str | None = None) -> Session:
    """The session ``session_id`` (of ``owner``'s workspaces only, when given: to
    anyone else it does not exist)."""
    return session_and_workspace(ctx, session_id, owner=owner)[0]


def live_session(
    ctx: Context, session_id: str, kind: SessionKind, *, owner: str | None = None
) -> tuple[Session, Workspace]:
    """A live session of ``kind`` and its workspace, which runs; a clear error if not."""
    session, ws = session_and_workspace(ctx, session_id, owner=owner)
    if session.kind is not kind:
        raise InvalidInput(f"session {session.id} is a {session.kind} session, not a {kind} one")
    if not session.live:
        raise NotFound(f"session {session.id} is closed ({session.closed_reason or 'closed'})")
    if ws.state not in ACTIVE_STATES or ws.container_id is None:
        raise not_running(ws)
    return session, ws


def session_and_workspace(
    ctx: Context, session_id: str, *, owner: str | None = None
) -> tuple[Session, Workspace]:
    """``find_session``, with the record of its workspace."""
    session = ctx.store.sessions.get(session_id[:64])
    if session is None:
        raise NotFound(f"no session {session_id!r}")
    try:
        ws = get_workspace(ctx, session.workspace_key, owner=owner)
    except NotFound:
        raise NotFound(f"no session {session_id!r}") from None
    return session, ws


def close_record(
    ctx: Context, ws: Workspace, session: Session, reason: CloseReason = CloseReason.CLOSED
) -> Session:
    """Close ``session``'s record (its last use is activity on the workspace); as recorded."""
    if ctx.store.sessions.close(session.id, workspace_key=ws.key, at=ctx.now(), reason=reason):
        announce_closed(ctx, ws, [session], reason)
    return ctx.store.sessions.get(session.id) or session


def recover_sessions(ctx: Context) -> int:
    """Sessions whose holder process died: shells and agents are ``detached`` (they can
    reattach to the still-running container), execs are over (``dead``)."""
    changed = 0
    for session in dead_holder_sessions(ctx):
        status = SessionStatus.DEAD if session.kind is SessionKind.EXEC else SessionStatus.DETACHED
        changed += ctx.store.sessions.set_status([session.id], status)
    return changed
