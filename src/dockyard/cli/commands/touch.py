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
    client = app.remote()
    if client is not None:
        client.touch(key)
        info = client.get(key)
        if as_json:
            app.term.json(dict(info.raw))
            return
        deadline, now = info.deadline, info.last_activity_at
    else:
        dy = app.dockyard()
        dy.touch(key)
        view = dy.status(key)
        if as_json:
            app.term.json(view.to_json())
            return
        deadline, now = view.deadline, dy.now()
    left = relative(deadline, now=now)
    app.term.out(f"touched {key}: idle deadline {clock_time(deadline)} ({left})")
