"""``dockyard touch KEY``: record activity now, pushing the idle deadline."""

from __future__ import annotations

import click

from dockyard.cli.app import App, pass_app
from dockyard.cli.params import clock_time, json_option, relative


@click.command()
@click.argument("key")
@json_option
@pass_app
def touch(app: App, *, key: str, as_json: bool) -> None:
    """Mark the workspace KEY as active now."""
    dy = app.dockyard()
    dy.touch(key)
    view = dy.status(key)
    if as_json:
        app.term.json(view.to_json())
        return
    left = relative(view.deadline, now=dy.now())
    app.term.out(f"touched {key}: idle deadline {clock_time(view.deadline)} ({left})")
