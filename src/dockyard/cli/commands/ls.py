"""``dockyard ls``: every workspace, its state, idleness and time left."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import click
from rich.text import Text

from dockyard.cli.app import App, pass_app
from dockyard.cli.output import styled_state
from dockyard.cli.params import json_option, pending_text, seconds_text
from dockyard.core.model import State
from dockyard.core.units import format_size
from dockyard.service import ResourceUse

#: CPU is sampled over this window: a listing's glance, kept short (the listing waits).
USAGE_WINDOW_S = 0.1


@click.command(name="ls")
@click.option("-a", "--all", "include_removed", is_flag=True, help="Include removed workspaces.")
@click.option("--owner", help="Only this owner's workspaces.")
@click.option("--usage", is_flag=True, help="Also CPU and memory of running ones (~0.1s).")
@json_option
@pass_app
def ls(app: App, *, include_removed: bool, owner: str | None, usage: bool, as_json: bool) -> None:
    """List workspaces: key, container, state, owner, idle for, time left, sessions, and
    what the reconciler will do next to each and why."""
    app.cleanup_in_background()
    dy = app.dockyard()
    with ThreadPoolExecutor(max_workers=1) as pool:
        # the sweep's sampling window passes while the views are made
        sweep = None
        if usage:
            sweep = pool.submit(dy.resource_sweep, owner=owner, window_s=USAGE_WINDOW_S)
        views, engine_ok = dy.list(include_removed=include_removed, owner=owner)
        use = sweep.result() if sweep is not None else {}
    if not engine_ok:
        app.term.warn("the engine did not answer; container status is unknown")
    if as_json:
        app.term.json([_with_usage(v.to_json(), use.get(v.workspace.key)) for v in views])
        return
    if not views:
        app.term.note("no workspaces yet; create one with: dockyard up KEY")
        return
    rows: list[list[str | Text]] = []
    for view in views:
        ws = view.workspace
        state = styled_state(ws.state.value)
        if ws.state is State.RUNNING and view.container_status not in {"running", "unknown"}:
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
                *([_usage_text(use.get(ws.key))] if usage else []),
                pending_text(view),
            ]
        )
    columns = ["KEY", "CONTAINER", "STATE", "OWNER", "IDLE", "LEFT", "SESSIONS"]
    app.term.table([*columns, *(["CPU/MEM"] if usage else []), "NEXT"], rows)


def _with_usage(data: dict[str, Any], use: ResourceUse | None) -> dict[str, Any]:
    if use is None:
        return data
    return {**data, "cpu_percent": use.cpu_percent, "memory_bytes": use.memory_bytes}


def _usage_text(use: ResourceUse | None) -> str:
    if use is None:
        return "-"
    cpu = "-" if use.cpu_percent is None else f"{use.cpu_percent:g}%"
    memory = "-" if use.memory_bytes is None else format_size(use.memory_bytes)
    return f"{cpu} {memory}"
