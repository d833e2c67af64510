"""``dockyard status [KEY]``: one workspace in detail, or the whole installation."""

from __future__ import annotations

from collections import Counter
from typing import Any

import click

from dockyard.cli.app import App, pass_app
from dockyard.cli.params import (
    clock_time,
    disk_text,
    json_option,
    pending_text,
    relative,
    seconds_text,
)
from dockyard.client import Client
from dockyard.core.errors import DockyardError
from dockyard.core.model import Workspace
from dockyard.core.units import format_size
from dockyard.service import LiveUse, WorkspaceView


@click.command()
@click.argument("key", required=False)
@json_option
@pass_app
def status(app: App, *, key: str | None, as_json: bool) -> None:
    """Show the workspace KEY in detail, or without KEY the installation's status."""
    app.cleanup_in_background()
    client = app.remote()
    if client is not None:
        _remote(app, client, key, as_json=as_json)
        return
    dy = app.dockyard()
    if key is not None:
        view = dy.status(key)
        use = dy.live_use(key)
        if as_json:
            app.term.json({**view.to_json(), **use.to_json()})
        else:
            _render_one(app, view, use)
        return
    views, engine_ok = dy.list()
    engine: dict[str, object] = {"url": dy.engine_url, "reachable": engine_ok}
    if engine_ok:
        try:
            info = dy.engine_info()
            engine.update(kind=info.kind, version=info.version, api_version=info.api_version)
        except DockyardError as exc:
            engine.update(reachable=False, error=exc.message)
    counts = Counter(v.workspace.state.value for v in views)
    engines = dy.engines()
    pool = dy.pool()
    summary: dict[str, Any] = {
        "installation": dy.installation,
        "store": dy.store_url,
        "engine": engine,
        "engines": [e.to_json() for e in engines],
        "counts": dict(sorted(counts.items())),
        "pool": pool,
        "workspaces": [v.to_json() for v in views],
    }
    if as_json:
        app.term.json(summary)
        return
    app.term.out(f"installation  {summary['installation']}")
    app.term.out(f"store         {summary['store']}")
    reach = (
        f"{engine.get('kind')} {engine.get('version')}" if engine["reachable"] else "unreachable"
    )
    if len(engines) == 1:
        app.term.out(f"engine        {engine['url']} ({reach})")
    for e in engines if len(engines) > 1 else []:
        load = f"{e.load}/{e.capacity}" if e.capacity else str(e.load)
        drains = ", draining" if e.draining else ""
        app.term.out(f"engine        {e.name}: {e.url or '-'} ({e.health}{drains}, {load} live)")
    states = ", ".join(f"{n} {s}" for s, n in sorted(counts.items())) or "none"
    app.term.out(f"workspaces    {len(views)} ({states})")
    if pool["wanted"] or pool["ready"]:
        app.term.out(f"warm pool     {_pool_text(pool)}")


def _pool_text(pool: dict[str, Any]) -> str:
    """``dockyard/workspace:latest 1/2 ready``, per image."""
    images = sorted(set(pool["wanted"]) | set(pool["ready_by_image"]))
    return ", ".join(
        f"{image} {pool['ready_by_image'].get(image, 0)}/{pool['wanted'].get(image, 0)} ready"
        for image in images
    )


def _remote(app: App, client: Client, key: str | None, *, as_json: bool) -> None:
    """What the server's API says: one workspace as it sees it, or a summary."""
    if key is None:
        found = client.list()
        counts = Counter(w.state.value for w in found)
        summary = {
            "server": client.url,
            "caller": client.whoami(),
            "counts": dict(sorted(counts.items())),
            "workspaces": [dict(w.raw) for w in found],
        }
        if as_json:
            app.term.json(summary)
            return
        states = ", ".join(f"{n} {s}" for s, n in sorted(counts.items())) or "none"
        app.term.out(f"server        {client.url}")
        app.term.out(f"workspaces    {len(found)} ({states})")
        return
    ws = client.get(key)
    if as_json:
        app.term.json(dict(ws.raw))
        return
    rows = [
        ("key", ws.key),
        ("state", ws.state.value + (f" ({ws.reason})" if ws.reason else "")),
        ("container", f"{ws.name} ({ws.container_status})"),
        ("owner", ws.owner),
        ("image", ws.image),
        ("keep", "yes" if ws.keep else "no"),
        ("last activity", clock_time(ws.last_activity_at)),
        ("idle for", seconds_text(ws.idle_for_s)),
        ("deadline", clock_time(ws.deadline)),
        ("time left", seconds_text(ws.time_left_s)),
        ("next", pending_text(ws.pending)),
        ("sessions", f"{ws.sessions_active} active"),
    ]
    width = max(len(label) for label, _ in rows)
    for label, value in rows:
        app.term.out(f"{label.ljust(width)}  {value}")


def _render_one(app: App, view: WorkspaceView, use: LiveUse) -> None:
    ws = view.workspace
    now = app.dockyard().now()
    rows = [
        ("key", ws.key),
        ("state", ws.state.value + (f" ({ws.reason})" if ws.reason else "")),
        ("container", f"{ws.name} ({view.container_status})"),
        ("owner", ws.owner),
        ("repo", ws.repo or "-"),
        ("branch", ws.branch or "-"),
        ("image", ws.image),
        ("volume", ws.volume),
        ("strategy", ws.strategy.value),
        ("keep", "yes" if ws.keep else "no"),
        ("resources", _resources(ws)),
        ("created", f"{clock_time(ws.created_at)} ({relative(ws.created_at, now=now)})"),
        (
            "last activity",
            f"{clock_time(ws.last_activity_at)} ({relative(ws.last_activity_at, now=now)})",
        ),
        ("idle for", seconds_text(view.idle_for_s)),
        (
            "deadline",
            f"{clock_time(view.deadline)} ({relative(view.deadline, now=now)})"
            if view.deadline
            else "-",
        ),
        ("time left", seconds_text(view.time_left_s)),
        ("next", pending_text(view.to_json()["pending"])),
        ("sessions", f"{view.sessions_active} active, {view.sessions_total} total"),
        ("up for", seconds_text(use.uptime_s)),
        ("cpu", "-" if use.cpu_percent is None else f"{use.cpu_percent:g}% of one CPU"),
        ("memory", _memory(use, ws)),
        ("disk", _disk(use)),
    ]
    width = max(len(label) for label, _ in rows)
    for label, value in rows:
        app.term.out(f"{label.ljust(width)}  {value}")


def _memory(use: LiveUse, ws: Workspace) -> str:
    if use.memory_bytes is None:
        return "-"
    return f"{format_size(use.memory_bytes)} of {format_size(ws.resources.memory_bytes)}"


def _disk(use: LiveUse) -> str:
    if use.disk is None or use.disk.total_bytes is None:
        return "-"
    parts = [
        f"{format_size(b)} {name}"
        for name, b in (("volume", use.disk.volume_bytes), ("layer", use.disk.layer_bytes))
        if b is not None
    ]
    total = disk_text(use.disk.total_bytes, complete=use.disk.complete)
    full = ""
    if use.disk.volume_bytes is not None and use.disk.volume_capacity:
        full = f"; the volume is {use.disk.volume_bytes / use.disk.volume_capacity:.0%} full"
    return f"{total} ({', '.join(parts)}{full})"


def _resources(ws: Workspace) -> str:
    memory = format_size(ws.resources.memory_bytes)
    disk = ws.resources.disk_bytes
    capped = f", a {format_size(disk)} volume" if disk is not None else ""
    return f"{memory} memory, {ws.resources.cpus:g} CPUs, {ws.resources.pids} pids{capped}"
