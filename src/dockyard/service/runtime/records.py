"""A workspace's record as every use case reads and writes it: found by key (a clear
``NotFound``), required running (a clear ``Conflict`` saying what to do), and written
compare-and-set."""

from __future__ import annotations

from dockyard.core.errors import Conflict, NotFound
from dockyard.core.model import ACTIVE_STATES, State, Workspace
from dockyard.core.naming import validate_key
from dockyard.service.runtime.context import Context


def get_workspace(ctx: Context, key: str, *, owner: str | None = None) -> Workspace:
    """The record of ``key`` (only if it is ``owner``'s, when given: to anyone else the
    workspace does not exist)."""
    ws = ctx.store.workspaces.get(validate_key(key))
    if ws is None or (owner is not None and ws.owner != owner):
        raise NotFound(f"no workspace {key!r}")
    return ws


def require_running(ctx: Context, key: str, *, owner: str | None = None) -> Workspace:
    ws = get_workspace(ctx, key, owner=owner)
    if ws.state not in ACTIVE_STATES or ws.container_id is None:
        raise not_running(ws)
    return ws


def not_running(ws: Workspace) -> Conflict:
    return Conflict(f"workspace {ws.key!r} is {ws.state}; run `dockyard up {ws.key}` first")


def save_cas(ctx: Context, ws: Workspace, *, expect: State) -> None:
    """Write ``ws`` if its stored state is still ``expect``; ``Conflict`` otherwise."""
    if not ctx.store.workspaces.save(ws, expect_state=expect):
        raise Conflict(f"workspace {ws.key!r} changed state concurrently; try again")
