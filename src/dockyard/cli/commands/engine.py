"""``dockyard engine``: the engines of the fleet; confirm a replaced daemon; drain."""

from __future__ import annotations

import click
from rich.text import Text

from dockyard.cli.app import App, pass_app
from dockyard.cli.params import json_option

HEALTH_STYLE = {"ready": "green", "unreachable": "red", "refused": "red", "unknown": "yellow"}


@click.group()
def engine() -> None:
    """The engines workspaces live on ([[engines]] in the settings; one by default)."""


@engine.command(name="ls")
@json_option
@pass_app
def ls(app: App, *, as_json: bool) -> None:
    """Each engine: health (asked now), load, draining, the daemon on record."""
    views = app.dockyard().engines()
    if as_json:
        app.term.json([v.to_json() for v in views])
        return
    rows: list[list[str | Text]] = []
    for v in views:
        health = v.health.value + (" (another daemon answers)" if v.seen_id else "")
        load = f"{v.load}/{v.capacity}" if v.capacity else str(v.load)
        rows.append(
            [
                v.name,
                Text(health, style=HEALTH_STYLE.get(v.health.value, "")),
                load,
                "yes" if v.draining else "",
                v.url or "(not configured here)",
                ",".join(f"{k}={val}" for k, val in sorted(v.labels.items())),
            ]
        )
    app.term.table(["NAME", "HEALTH", "LOAD", "DRAINING", "URL", "LABELS"], rows)
    for v in views:
        if v.seen_id:
            app.term.warn(
                f"engine {v.name}: {v.seen_id} answers where {v.daemon_id} is on record; its "
                f"workspaces are left alone. If it replaces it: dockyard engine confirm {v.name}"
            )


@engine.command()
@click.argument("name")
@pass_app
def confirm(app: App, *, name: str) -> None:
    """The daemon now answering at engine NAME replaces the one on record (its
    workspaces' containers are looked for there from now on)."""
    identity = app.dockyard().confirm_engine(name)
    app.term.out(f"engine {name} is daemon {identity} from now on")


@engine.command()
@click.argument("name")
@json_option
@pass_app
def drain(app: App, *, name: str, as_json: bool) -> None:
    """Place no new workspace on NAME and park its workspaces (in use or not), work
    saved first. Those saved with git come back on another engine at their next up;
    volume and image ones stay on NAME (their work is there)."""
    report = app.dockyard().drain_engine(name, progress=app.term.progress)
    if as_json:
        app.term.json({"parked": report.parked, "stays": report.stays, "failed": report.failed})
    else:
        app.term.out(f"engine {name} drains: {len(report.parked)} parked")
        if report.stays:
            app.term.note(f"staying on {name} (their work is there): {', '.join(report.stays)}")
        for key, why in report.failed.items():
            app.term.warn(f"{key}: not parked: {why}")
    if report.failed:
        raise SystemExit(1)


@engine.command()
@click.argument("name")
@pass_app
def undrain(app: App, *, name: str) -> None:
    """New workspaces may be placed on NAME again."""
    app.dockyard().undrain_engine(name)
    app.term.out(f"engine {name} takes new workspaces again")
