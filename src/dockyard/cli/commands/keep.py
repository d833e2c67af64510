"""``dockyard keep KEY`` / ``dockyard unkeep KEY``: exempt a workspace from cleanup."""

from __future__ import annotations

import click

from dockyard.cli.app import App, pass_app


@click.command()
@click.argument("key")
@pass_app
def keep(app: App, *, key: str) -> None:
    """Never warn, park or remove the workspace KEY automatically."""
    change = (app.remote() or app.dockyard()).keep(key, keep=True)
    app.term.out(f"kept {key}" if change.changed else f"{key}: {change.detail}")


@click.command()
@click.argument("key")
@pass_app
def unkeep(app: App, *, key: str) -> None:
    """Let the policy apply to the workspace KEY again."""
    change = (app.remote() or app.dockyard()).keep(key, keep=False)
    app.term.out(f"unkept {key}" if change.changed else f"{key}: {change.detail}")
    if change.changed and change.detail:
        app.term.note(change.detail)
    app.notify_reconciler()
