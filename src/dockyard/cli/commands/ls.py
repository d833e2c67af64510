"""``dockyard ls``: every workspace, its state, idleness and time left."""

from __future__ import annotations

import click
from rich.text import Text

from dockyard.cli.app import App, pass_app
from dockyard.cli.output import styled_state
from dockyard.cli.params import json_option, pending_text, seconds_text


@click.command(name="ls")
@click.option("-a", "--all", "include_removed", is_flag=True, help="Include removed workspaces.")
@click.option("--owner", help="Only this owner's workspaces.")
@json_option
@pass_app
def ls(app: App, *, include_removed: bool, owner: str | None, as_json: bool) -> None:
    """List workspaces: key, container, state, owner, idle for, time left, sessions, and
    what the reconciler will do next to each and why."""
    app.cleanup_in_background()
    views, engine_ok = app.dockyard().list(include_removed=include_removed, owner=owner)
    if not engine_ok:
        app.term.warn("the engine did not answer; container status is unknown")
    if as_json:
        app.term.json([v.to_json() for v in views])
        return
    if not views:
        app.term.note("no workspaces yet; create one with: dockyard up KEY")
        return
    rows: list[list[str | Text]] = []
    for view in views:
        ws = view.workspace
        state = styled_state(ws.state.value)
        if ws.state.value == "running" and view.container_status not in {"running", "unknown"}:
            state.append(f" (container {view.container_status})", style="red")
        rows.append(
            [
                ws.key,
                ws.name,
                state,
                ws.owner,
                seconds_text(view.idle_for_s),
                seconds_text(view.time_left_s),
                f"{view.sessions_active}/{view.sessions_total}",
                pending_text(view),
            ]
        )
    app.term.table(["KEY", "CONTAINER", "STATE", "OWNER", "IDLE", "LEFT", "SESSIONS", "NEXT"], rows)
