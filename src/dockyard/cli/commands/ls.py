"""``dockyard ls``: every workspace, its state, idleness and time left."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import click
from rich.text import Text

from dockyard.cli.app import App, pass_app
from dockyard.cli.output import styled_state
from dockyard.cli.params import disk_text, json_option, pending_text, seconds_text
from dockyard.core.model import State
from dockyard.core.units import format_size
from dockyard.service import ResourceUse

#: CPU is sampled over this window: a listing's glance, kept short (the listing waits).
USAGE_WINDOW_S = 0.1


@click.command(name="ls")
@click.option("-a", "--all", "include_removed", is_flag=True, help="Include removed workspaces.")
@click.option("--owner", help="Only this owner's workspaces.")
@click.option("--usage", is_flag=True, help="Also CPU, memory and disk of running ones (~0.1s).")
@json_option
@pass_app
def ls(app: App, *, include_removed: bool, owner: str | None, usage: bool, as_json: bool) -> None:
    """List workspaces: key, container, state, owner, idle for, time left, sessions, and
    what the reconciler will do next to each and why."""
    app.cleanup_in_background()
    client = app.remote()
    if client is not None:  # the server's own view of each workspace, as its API says
        if usage:
            raise click.UsageError("--usage works on this machine's engine, not through --url")
        found = [w.raw for w in client.list(owner=owner)]
        if not include_removed:
            found = [w for w in found if w["state"] != State.REMOVED.value]
        _render(app, found, as_json=as_json, usage=None)
        return
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
    rows = [_with_usage(v.to_json(), use.get(v.workspace.key)) for v in views]
    _render(app, rows, as_json=as_json, usage=use if usage else None)


def _render(
    app: App,
    workspaces: Sequence[Mapping[str, Any]],
    *,
    as_json: bool,
    usage: dict[str, ResourceUse] | None,
) -> None:
    """The listing, from each workspace's JSON (local, or as a server sent it)."""
    if as_json:
        app.term.json(workspaces)
        return
    if not workspaces:
        app.term.note("no workspaces yet; create one with: dockyard up KEY")
        return
    rows: list[list[str | Text]] = []
    for ws in workspaces:
        state = styled_state(ws["state"])
        container = ws["container_status"]
        if ws["state"] == State.RUNNING.value and container not in {"running", "unknown"}:
            state.append(f" (container {container})", style="red")
        sessions = ws["sessions"]
        rows.append(
            [
                ws["key"],
                ws["name"],
                state,
                ws["owner"],
                seconds_text(ws["idle_for_s"]),
                seconds_text(ws["time_left_s"]),
                f"{sessions['active']}/{sessions['total']}",
                *([_usage_text(usage.get(ws["key"]))] if usage is not None else []),
                pending_text(ws["pending"]),
            ]
        )
    columns = ["KEY", "CONTAINER", "STATE", "OWNER", "IDLE", "LEFT", "SESSIONS"]
    app.term.table([*columns, *(["CPU/MEM/DISK"] if usage is not None else []), "NEXT"], rows)


def _with_usage(data: dict[str, Any], use: ResourceUse | None) -> Mapping[str, Any]:
    if use is None:
        return data
    return {
        **data,
        "cpu_percent": use.cpu_percent,
        "memory_bytes": use.memory_bytes,
        **use.disk_json(),
    }


def _usage_text(use: ResourceUse | None) -> str:
    if use is None:
        return "-"
    cpu = "-" if use.cpu_percent is None else f"{use.cpu_percent:g}%"
    memory = "-" if use.memory_bytes is None else format_size(use.memory_bytes)
    disk = "-" if use.disk is None else disk_text(use.disk.total_bytes, complete=use.disk.complete)
    return f"{cpu} {memory} {disk}"
