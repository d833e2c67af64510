"""``dockyard rm KEY [--purge]``: remove a workspace; --purge also deletes its work."""

from __future__ import annotations

import click

from dockyard.cli.app import App, pass_app
from dockyard.cli.params import json_option
from dockyard.core.errors import Refused


@click.command()
@click.argument("key")
@click.option("--purge", is_flag=True, help="Also delete its volume and record: the work is gone.")
@click.option("-f", "--force", is_flag=True, help="Even if it is in use; no questions.")
@json_option
@pass_app
def rm(app: App, *, key: str, purge: bool, force: bool, as_json: bool) -> None:
    """Remove the workspace KEY's container; its work is kept unless --purge."""
    remove = app.dockyard().remove if (client := app.remote()) is None else client.remove
    try:
        change = remove(key, purge=purge, force=force)
    except Refused as exc:
        if not app.term.interactive or not app.term.confirm(f"{exc.message}. Remove it anyway?"):
            raise Refused(f"{exc.message}; pass --force to remove it anyway") from None
        change = remove(key, purge=purge, force=True)
    if as_json:
        app.term.json(
            {"key": key, "changed": change.changed, "purged": purge, "detail": change.detail}
        )
        return
    if change.changed:
        app.term.out(f"removed {key}: {change.detail}")
    else:
        app.term.out(f"{key}: {change.detail}")
