"""``dockyard park KEY``: save the work, remove the container; `up` restores it."""

from __future__ import annotations

import click

from dockyard.cli.app import App, pass_app
from dockyard.cli.params import json_option
from dockyard.core.errors import Refused


@click.command()
@click.argument("key")
@click.option("-f", "--force", is_flag=True, help="Even if it is in use.")
@json_option
@pass_app
def park(app: App, *, key: str, force: bool, as_json: bool) -> None:
    """Park the workspace KEY: save its work, then remove its container.

    The work comes back with `dockyard up KEY`. If the save fails nothing is removed:
    the workspace is marked save_failed and the reconciler tries again later.
    """
    dy = app.dockyard()
    try:
        change = dy.park(key, force=force, progress=app.term.progress)
    except Refused as exc:
        if not app.term.interactive or not app.term.confirm(f"{exc.message}. Park it anyway?"):
            raise Refused(f"{exc.message}; pass --force to park it anyway") from None
        change = dy.park(key, force=True, progress=app.term.progress)
    if as_json:
        app.term.json(
            {
                "key": key,
                "changed": change.changed,
                "state": change.workspace.state.value,
                "checkpoint": change.workspace.checkpoint_id,
                "detail": change.detail,
            }
        )
        return
    if change.changed:
        app.term.out(f"parked {key}: {change.detail}")
    else:
        app.term.out(f"{key}: {change.detail}")
