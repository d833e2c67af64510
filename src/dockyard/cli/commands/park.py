"""``dockyard park KEY``: save the work, remove the container; `up` restores it."""

from __future__ import annotations

import click

from dockyard.cli.app import App, pass_app
from dockyard.cli.params import json_option
from dockyard.core.errors import Refused
from dockyard.service import Change


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
    client = app.remote()
    if client is not None:
        try:
            parked = client.park(key, force=force)
        except Refused as exc:
            raise Refused(f"{exc.message}; pass --force to park it anyway") from None
        changed, detail = parked.changed, parked.detail
        state, checkpoint = parked.workspace.state.value, parked.workspace.raw.get("checkpoint")
    else:
        change = _park_here(app, key, force=force)
        changed, detail = change.changed, change.detail
        state, checkpoint = change.workspace.state.value, change.workspace.checkpoint_id
    if as_json:
        app.term.json(
            {
                "key": key,
                "changed": changed,
                "state": state,
                "checkpoint": checkpoint,
                "detail": detail,
            }
        )
        return
    app.term.out(f"parked {key}: {detail}" if changed else f"{key}: {detail}")


def _park_here(app: App, key: str, *, force: bool) -> Change:
    dy = app.dockyard()
    try:
        return dy.park(key, force=force, progress=app.term.progress)
    except Refused as exc:
        if not app.term.interactive or not app.term.confirm(f"{exc.message}. Park it anyway?"):
            raise Refused(f"{exc.message}; pass --force to park it anyway") from None
        return dy.park(key, force=True, progress=app.term.progress)
