"""``dockyard checkpoints KEY``: the saved copies of a workspace's work, newest first."""

from __future__ import annotations

import click
from rich.text import Text

from dockyard.cli.app import App, pass_app
from dockyard.cli.params import json_option
from dockyard.core.checkpoints import checkpoint_json
from dockyard.core.units import format_duration, format_size


@click.command()
@click.argument("key")
@json_option
@pass_app
def checkpoints(app: App, *, key: str, as_json: bool) -> None:
    """List the checkpoints of workspace KEY, newest first.

    `dockyard up KEY --from ID` restores one of them (a unique prefix of the id will do)
    once the workspace is parked.
    """
    dy = app.dockyard()
    found = dy.checkpoints(key)
    if as_json:
        app.term.json([checkpoint_json(c) for c in found])
        return
    if not found:
        app.term.note(f"{key} has no checkpoints yet; `dockyard park {key}` makes one")
        return
    current = dy.get(key).checkpoint_id
    now = dy.now()
    rows: list[list[str | Text]] = []
    for checkpoint in found:
        marker = "*" if checkpoint.id == current else ""
        rows.append(
            [
                checkpoint.id + marker,
                checkpoint.kind.value,
                (checkpoint.commit or checkpoint.ref or "-").removeprefix("sha256:")[:12],
                "-" if checkpoint.size_bytes is None else format_size(checkpoint.size_bytes),
                format_duration(now - checkpoint.created_at) + " ago",
                format_duration(checkpoint.expires_at - now),
                Text("yes", style="green") if checkpoint.verified else Text("no", style="red"),
                checkpoint.detail or "",
            ]
        )
    app.term.table(["ID", "KIND", "REF", "SIZE", "SAVED", "EXPIRES IN", "VERIFIED", "DETAIL"], rows)
    app.term.note("* the checkpoint the next `up` restores (or the running one came from)")
